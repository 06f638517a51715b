"""ws /ws/widget/: the auth frame, Origin, commands, and what a widget may see."""
from __future__ import annotations

import base64
import json

import pytest
from channels.testing import WebsocketCommunicator

from chat.models import Contact, Inbox
from chat.realtime.codes import CloseCode
from tests.factories import ContactInboxFactory, make_conversation
from tests.realtime.conftest import (
    ORIGIN,
    TIMEOUT,
    application,
    closed_with,
    command,
    command_expecting,
    db,
    first_of,
    frames_of,
    is_type,
    joined_operator,
    receive,
    receive_until,
    widget_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def raw_widget(origin: str | None = ORIGIN) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(application(), "/ws/widget/", headers=[(b"origin", origin.encode())] if origin else [])
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    return comm


async def test_no_auth_frame_in_time_closes_4401(world, settings):
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.2
    comm = await raw_widget()
    assert await closed_with(comm) == CloseCode.UNAUTHORIZED


async def test_forged_token_closes_4401(world):
    comm = await raw_widget()
    await comm.send_to(text_data=json.dumps({"type": "auth", "data": {"pubsub_token": "forged"}}))
    assert await closed_with(comm) == CloseCode.UNAUTHORIZED


@pytest.mark.parametrize("first", ['{"type": "ping"}', "nonsense", '{"type": "auth", "data": {"pubsub_token": 5}}'])
async def test_first_frame_other_than_auth_closes_4401(world, first):
    comm = await raw_widget()
    await comm.send_to(text_data=first)
    assert await closed_with(comm) == CloseCode.UNAUTHORIZED


async def test_blocked_contact_closes_4403(world):
    await db(lambda: Contact.objects.filter(pk=world.visitor.contact_id).update(blocked=True))()
    comm = await raw_widget()
    await comm.send_to(text_data=json.dumps({"type": "auth", "data": {"pubsub_token": world.visitor.pubsub_token}}))
    assert await closed_with(comm) == CloseCode.FORBIDDEN


async def test_origin_outside_allowed_origins_closes_4403(world):
    comm = await raw_widget("https://elsewhere.example")
    await comm.send_to(text_data=json.dumps({"type": "auth", "data": {"pubsub_token": world.visitor.pubsub_token}}))
    assert await closed_with(comm) == CloseCode.FORBIDDEN


async def test_empty_allowed_origins_and_missing_origin_are_accepted(world):
    await db(lambda: Inbox.objects.filter(pk=world.inbox_a.pk).update(allowed_origins=[]))()
    comm, _ = await widget_socket(world.visitor, origin="https://anywhere.example")
    await comm.disconnect()
    await db(lambda: Inbox.objects.filter(pk=world.inbox_a.pk).update(allowed_origins=[ORIGIN]))()
    comm, _ = await widget_socket(world.visitor, origin=None)  # a native app
    await comm.disconnect()


async def test_auth_reply_describes_the_session(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    comm, reply = await widget_socket(world.visitor)
    data = reply["data"]
    assert data["contact"]["id"] == world.visitor.contact_id
    assert data["contact_inbox"]["source_id"] == world.visitor.source_id
    assert data["conversation_id"] == conversation.pk
    assert data["conversation"]["id"] == conversation.pk and "contact" not in data["conversation"]
    assert isinstance(data["last_event_id"], int) and data["last_event_id"] >= 1
    assert data["operators_available"] in (True, False)
    await comm.disconnect()


async def test_message_create_first_message_opens_a_conversation_and_is_idempotent(world):
    comm, _ = await widget_socket(world.visitor)
    first = await command(comm, "message.create", {"content": "Hi", "echo_id": "w-1"}, ref="1")
    assert first["ok"], first
    assert first["data"]["direction"] == "incoming" and first["data"]["echo_id"] == "w-1"
    again = await command(comm, "message.create", {"content": "Hi", "echo_id": "w-1"}, ref="2")
    assert again["ok"] and again["data"]["id"] == first["data"]["id"]
    await comm.disconnect()
    # A fresh socket replays from 0: conversation.created precedes message.created, once each.
    comm, _ = await widget_socket(world.visitor)
    await comm.send_to(text_data=json.dumps({"type": "resume", "ref": "r", "data": {"last_event_id": 0}}))
    reply, frames = await receive_until(comm, lambda f: f.get("ref") == "r")
    # (Durable events only: a waiting visitor's socket also gets its queue.updated on connect.)
    assert [f["type"] for f in frames if "id" in f][:2] == ["conversation.created", "message.created"]
    assert len(frames_of(frames, "message.created")) == 1
    await comm.disconnect()


async def test_message_errors(world, settings):
    settings.FLOOD_LIMIT_MESSAGES = 2
    comm, _ = await widget_socket(world.visitor)
    assert (await command(comm, "message.create", {"content": 5}))["error"]["code"] == "invalid_data"
    too_long = await command(comm, "message.create", {"content": "x" * (settings.MESSAGE_MAX_LENGTH + 1)})
    assert too_long["error"]["code"] == "content_too_long"
    attachment = {"name": "a.txt", "content_type": "text/plain", "data": base64.b64encode(b"hi").decode()}
    many = await command(comm, "message.create", {"content": "x", "attachments": [attachment] * 16})
    assert many["error"]["code"] == "too_many_attachments"
    assert (await command(comm, "message.create", {"content": "1"}))["ok"]
    assert (await command(comm, "message.create", {"content": "2"}))["ok"]
    assert (await command(comm, "message.create", {"content": "3"}))["error"]["code"] == "flood_limited"
    await db(lambda: Contact.objects.filter(pk=world.visitor.contact_id).update(blocked=True))()
    assert (await command(comm, "message.create", {"content": "4"}))["error"]["code"] == "contact_blocked"
    assert (await command(comm, "ping", ref="alive"))["ok"]
    await comm.disconnect()


async def test_message_with_attachment(world):
    comm, _ = await widget_socket(world.visitor)
    attachment = {"name": "a.txt", "content_type": "text/plain", "data": base64.b64encode(b"hello").decode()}
    reply = await command(comm, "message.create", {"content": "", "attachments": [attachment]})
    assert reply["ok"], reply
    assert reply["data"]["attachments"][0]["size"] == 5
    await comm.disconnect()


async def test_widget_commands_unknown_to_widgets_are_refused(world):
    comm, _ = await widget_socket(world.visitor)
    reply = await command(comm, "conversation.assign", {"conversation_id": 1, "assignee_id": None})
    assert reply["error"]["code"] == "unknown_command"
    await comm.disconnect()


async def test_read_and_typing_without_a_conversation(world):
    comm, _ = await widget_socket(world.visitor)
    assert (await command(comm, "conversation.read", ref=1))["data"] == {"conversation_id": None, "recorded": False}
    assert (await command(comm, "typing.start", ref=2))["data"] == {"conversation_id": None, "typing": True}
    await command(comm, "message.create", {"content": "hi"}, ref=3)
    read = await command(comm, "conversation.read", ref=4)
    assert read["ok"] and read["data"]["recorded"] is True
    await comm.disconnect()


async def test_widget_never_sees_private_notes_activity_or_operator_only_events(world):
    await db(lambda: Inbox.objects.filter(pk=world.inbox_a.pk).update(enable_auto_assignment=False))()
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    widget, _ = await widget_socket(world.visitor)
    op = await joined_operator(world.op_a)
    watcher = await joined_operator(world.op_a)  # another tab of the same operator: only listens
    cid = conversation.pk
    await command(op, "message.create", {"conversation_id": cid, "content": "internal", "private": True}, ref=1)
    await command(op, "conversation.assign", {"conversation_id": cid, "assignee_id": world.op_a.pk}, ref=2)
    await command(op, "conversation.priority", {"conversation_id": cid, "priority": "high"}, ref=3)
    await command(op, "message.create", {"conversation_id": cid, "content": "public reply"}, ref=4)
    await command(op, "conversation.status", {"conversation_id": cid, "status": "resolved"}, ref=5)
    last, frames = await receive_until(widget, lambda f: f["type"] == "conversation.status_changed")
    frames.append(last)
    types = [f["type"] for f in frames]
    messages = frames_of(frames, "message.created")
    assert [m["data"]["content"] for m in messages] == ["public reply"]
    assert not {"assignee.changed", "first_reply.created", "reply.created"} & set(types)
    assert all("contact" not in f["data"] for f in frames if f["type"].startswith("conversation.") and "id" in f["data"])
    ids = [f["id"] for f in frames]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # The operator saw everything, including the note and the operator-only events.
    _, op_frames = await receive_until(watcher, lambda f: f["type"] == "conversation.status_changed")
    op_types = {f["type"] for f in op_frames}
    assert {"assignee.changed", "first_reply.created"} <= op_types
    assert "internal" in [f["data"].get("content") for f in frames_of(op_frames, "message.created")]
    for comm in (widget, op, watcher):
        await comm.disconnect()


async def test_widget_gets_only_its_own_contact_inbox(world):
    other = await db(ContactInboxFactory)(inbox=world.inbox_a)
    mine, _ = await widget_socket(world.visitor)
    theirs, _ = await widget_socket(other)
    await command(theirs, "message.create", {"content": "not yours"}, ref=1)
    _, frames = await command_expecting(mine, "message.create", {"content": "mine"}, is_type("message.created"), ref=2)
    frame = first_of(frames, "message.created")
    assert frame["data"]["content"] == "mine"
    assert all(f.get("conversation_id") == frame["conversation_id"] for f in frames)
    await mine.disconnect()
    await theirs.disconnect()


async def test_ping_and_idle(world, settings):
    comm, _ = await widget_socket(world.visitor)
    await comm.send_to(text_data=json.dumps({"type": "ping"}))
    assert await receive(comm) == {"type": "pong"}
    await comm.disconnect()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("attachment", [
    {"name": "x.svg", "content_type": "image/svg+xml", "data": _b64(b"<svg onload=alert(1)>")},
    {"name": "x.html", "content_type": "text/html", "data": _b64(b"<script>")},
    {"name": "x.exe", "content_type": "application/x-msdownload", "data": _b64(b"MZ")},
    {"name": "x.exe", "content_type": "image/png", "data": _b64(b"MZ")},  # the extension says another type
    {"name": "big.png", "content_type": "image/png", "data": _b64(b"0" * 2001)},
    {"name": "a.png", "content_type": "image/png\r\nX-Injected: 1", "data": _b64(b"png")},
    {"name": "a.png", "content_type": "image/" + "p" * 120, "data": _b64(b"png")},
    {"name": "a\x00.png", "content_type": "image/png", "data": _b64(b"png")},
    {"name": "a.png", "content_type": 5, "data": _b64(b"png")},
], ids=["svg", "html", "exe", "exe-as-png", "too-large", "crlf-type", "long-type", "nul-name", "type-not-string"])
async def test_socket_uploads_meet_the_attachment_policy(world, settings, attachment):
    """The message service applies the policy: the socket path stores nothing the REST path
    would refuse (an SVG, HTML or .exe, an oversized file, a dirty content_type)."""
    settings.ATTACHMENT_MAX_BYTES = 2000
    comm, _ = await widget_socket(world.visitor)
    reply = await command(comm, "message.create", {"content": "file", "attachments": [attachment]})
    assert reply["ok"] is False and reply["error"]["code"] == "invalid_attachment", reply
    assert (await command(comm, "ping", ref="alive"))["ok"]
    await comm.disconnect()
    from chat.models import Attachment, Message

    assert await db(lambda: (Message.objects.count(), Attachment.objects.count()))() == (0, 0)


@pytest.mark.parametrize("reopens", [True, False], ids=["reopening-inbox", "new-conversation-inbox"])
async def test_socket_and_rest_agree_on_the_visitors_current_conversation(world, reopens):
    """One rule (chat.services.widget.widget_current_conversation): a resolved conversation is
    current only where the next message would reopen it; typing and reads follow it over the
    socket exactly as over REST."""
    from rest_framework.test import APIClient

    from chat.models import Conversation
    from chat.services.conversations import conversation_set_status
    from tests.factories import make_conversation

    def setup() -> int:
        Inbox.objects.filter(pk=world.inbox_a.pk).update(reopen_resolved_conversations=reopens)
        conversation = make_conversation(contact_inbox=world.visitor)
        conversation_set_status(conversation_id=conversation.pk, status="resolved")
        return conversation.pk

    conversation_id = await db(setup)()
    expected = conversation_id if reopens else None

    def rest() -> tuple[int | None, object]:
        client = APIClient()
        client.credentials(HTTP_X_WIDGET_TOKEN=world.visitor.pubsub_token, HTTP_ORIGIN=ORIGIN)
        session = client.post("/api/widget/v1/sessions", {"website_token": world.inbox_a.website_token,
                                                          "source_id": world.visitor.source_id}, format="json")
        assert client.post("/api/widget/v1/typing", {"typing": True}, format="json").status_code == 204
        assert client.post("/api/widget/v1/read").status_code == 204
        current = (session.json()["conversation"] or {}).get("id")
        return current, Conversation.objects.get(pk=conversation_id).contact_last_seen_at

    rest_current, seen_at = await db(rest)()
    assert rest_current == expected
    assert (seen_at is not None) == reopens

    comm, auth = await widget_socket(world.visitor)
    assert auth["data"]["conversation_id"] == expected
    assert (await command(comm, "typing.start", ref="t"))["data"]["conversation_id"] == expected
    assert (await command(comm, "conversation.read", ref="r"))["data"]["conversation_id"] == expected
    await comm.disconnect()
    assert (await db(lambda: Conversation.objects.get(pk=conversation_id).contact_last_seen_at)() is not None) == reopens


async def test_pings_write_presence_at_most_once_per_half_ttl(world, settings, monkeypatch):
    """A widget pings every 20 s; its presence deadline (now + TTL) is moved by at most every
    other ping (chat/consumers/base.cmd_ping): the second ping of a burst writes nothing."""
    from presence import clock
    from presence.tracker import get_tracker

    settings.PRESENCE_TTL_SECONDS = 60
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start)
    widget, _ = await widget_socket(world.visitor)
    assert (await command(widget, "ping", ref="p1"))["ok"]  # written: online until start + 60
    monkeypatch.setattr(clock, "now", lambda: start + 50)
    assert (await command(widget, "ping", ref="p2"))["ok"]  # 0 s later on the socket's clock: skipped
    contact_id = world.visitor.contact_id
    tracker = get_tracker()
    assert await db(tracker.contact_is_online)(contact_id, now=start + 59)
    assert not await db(tracker.contact_is_online)(contact_id, now=start + 61)  # p2 did not move it
    await widget.disconnect()
