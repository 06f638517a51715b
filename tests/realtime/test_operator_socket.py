"""ws /ws/operator/: authentication, Origin, every command and error code."""
from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat.models import Availability, Conversation, OperatorProfile
from chat.realtime.codes import CloseCode
from tests.factories import make_conversation
from tests.realtime.conftest import (
    TIMEOUT,
    application,
    closed_with,
    command,
    command_expecting,
    db,
    first_of,
    is_type,
    joined_operator,
    receive,
    receive_until,
    widget_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def connect(headers):
    comm = WebsocketCommunicator(application(), "/ws/operator/", headers=headers)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    return comm, connected


# --- Authentication -----------------------------------------------------------------------------


async def test_no_credentials_closes_4401(world):
    comm, _ = await connect([(b"origin", b"http://localhost")])
    assert await closed_with(comm) == CloseCode.UNAUTHORIZED


async def test_wrong_token_closes_4401(world):
    comm, _ = await connect([(b"authorization", b"Token not-a-token")])
    assert await closed_with(comm) == CloseCode.UNAUTHORIZED


async def test_session_cookie_from_own_origin_is_accepted(world):
    cookie = await db(session_cookie)(world.op_a)
    comm, connected = await connect([(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"http://localhost:8000")])
    assert connected
    assert (await command(comm, "ping"))["ok"]
    await comm.disconnect()


async def test_session_cookie_from_trusted_origin_is_accepted(world, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.support.example"]
    cookie = await db(session_cookie)(world.op_a)
    comm, _ = await connect([(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"https://panel.support.example")])
    assert (await command(comm, "ping"))["ok"]
    await comm.disconnect()


async def test_session_cookie_from_foreign_origin_is_refused(world):
    cookie = await db(session_cookie)(world.op_a)
    comm, _ = await connect([(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"https://evil.example")])
    assert await closed_with(comm) == CloseCode.FORBIDDEN


async def test_session_cookie_without_origin_is_refused(world):
    cookie = await db(session_cookie)(world.op_a)
    comm, _ = await connect([(b"cookie", f"sessionid={cookie}".encode())])
    assert await closed_with(comm) == CloseCode.FORBIDDEN


async def test_inactive_operator_token_closes_4401(world):
    from tests.realtime.conftest import token_for

    key = await db(token_for)(world.op_a)
    await db(lambda: type(world.op_a).objects.filter(pk=world.op_a.pk).update(is_active=False))()
    comm, _ = await connect([(b"authorization", f"Token {key}".encode())])
    assert await closed_with(comm) == CloseCode.UNAUTHORIZED


# --- Bad input ----------------------------------------------------------------------------------


async def test_bad_frames_get_stable_codes_and_the_socket_stays_usable(world):
    op = await joined_operator(world.op_a)
    await op.send_to(text_data="{not json")
    assert (await receive(op))["error"]["code"] == "invalid_frame"
    await op.send_to(text_data="[1, 2]")
    assert (await receive(op))["error"]["code"] == "invalid_frame"
    await op.send_to(bytes_data=b"\x00")
    assert (await receive(op))["error"]["code"] == "invalid_frame"
    assert (await command(op, "launch.rockets", ref="u"))["error"]["code"] == "unknown_command"
    assert (await command(op, "message.create", {"content": "x"}, ref="m"))["error"]["code"] == "invalid_data"
    wrong = await command(op, "message.create", {"conversation_id": "7", "content": "x"}, ref="w")
    assert wrong["error"]["code"] == "invalid_data"
    assert wrong["error"]["fields"] == {"conversation_id": ["Must be int."]}
    data_not_object = await command(op, "ping", ref="d")  # still fine after all that
    assert data_not_object["ok"]
    await op.send_to(text_data=json.dumps({"type": "ping", "ref": "x", "data": [1]}))
    assert (await receive(op))["error"]["code"] == "invalid_data"
    await op.disconnect()


async def test_frame_over_the_size_bound_closes_cleanly(world, settings):
    settings.WS_MAX_FRAME_BYTES = 1000
    op = await joined_operator(world.op_a)
    await op.send_to(text_data=json.dumps({"type": "ping", "data": {"pad": "é" * 600}}))
    assert await closed_with(op) == CloseCode.MESSAGE_TOO_BIG


async def test_command_rate_is_bounded_per_socket(world, settings):
    settings.WS_COMMANDS_PER_10S = 3
    op = await joined_operator(world.op_a)  # one ping used
    codes = [(await command(op, "ping", ref=i)).get("error", {}).get("code") for i in range(4)]
    assert codes[:2] == [None, None]
    assert codes[-1] == "rate_limited"
    await op.disconnect()


async def test_conversation_of_another_inbox_is_not_found(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor_b)
    op = await joined_operator(world.op_a)
    for kind, data in [
        ("message.create", {"conversation_id": conversation.pk, "content": "hi"}),
        ("typing.start", {"conversation_id": conversation.pk}),
        ("conversation.read", {"conversation_id": conversation.pk}),
        ("conversation.status", {"conversation_id": conversation.pk, "status": "resolved"}),
        ("conversation.priority", {"conversation_id": conversation.pk, "priority": "high"}),
        ("conversation.assign", {"conversation_id": conversation.pk, "assignee_id": None}),
        ("conversation.escalate", {"conversation_id": conversation.pk}),
        ("message.create", {"conversation_id": 10**9, "content": "hi"}),
    ]:
        reply = await command(op, kind, data, ref=kind)
        assert reply["error"]["code"] == "not_found", (kind, reply)
    await op.disconnect()


async def test_heartbeat_ping_pong(world):
    op = await joined_operator(world.op_a)
    await op.send_to(text_data=json.dumps({"type": "ping"}))
    assert await receive(op) == {"type": "pong"}
    await op.send_to(text_data=json.dumps({"type": "ping", "ref": 5}))
    assert await receive(op) == {"type": "pong"}
    reply = await receive(op)
    assert reply["type"] == "reply" and reply["ref"] == 5 and reply["ok"]
    await op.disconnect()


async def test_silent_socket_is_closed(world, settings):
    settings.WS_IDLE_TIMEOUT_SECONDS = 0.3
    op = await joined_operator(world.op_a)
    assert await closed_with(op) == CloseCode.IDLE_TIMEOUT


# --- Commands -----------------------------------------------------------------------------------


async def test_message_create_replies_with_the_stored_message_and_is_idempotent(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    data = {"conversation_id": conversation.pk, "content": "Hello!", "echo_id": "e-1"}
    first = await command(op, "message.create", data, ref="m1")
    assert first["ok"], first
    message = first["data"]
    assert message["content"] == "Hello!" and message["direction"] == "outgoing" and message["echo_id"] == "e-1"
    assert message["sender"]["type"] == "user" and message["sender"]["id"] == world.op_a.pk
    assert set(message) >= {"id", "conversation_id", "content", "direction", "private", "echo_id", "source_id",
                            "sender", "created_at"}
    again = await command(op, "message.create", data, ref="m2")
    assert again["ok"] and again["data"]["id"] == message["id"]
    count = await db(lambda: conversation.messages.filter(echo_id="e-1").count())()
    assert count == 1
    await op.disconnect()


async def test_message_too_long_is_refused(world, settings):
    settings.MESSAGE_MAX_LENGTH = 10
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    reply = await command(op, "message.create", {"conversation_id": conversation.pk, "content": "x" * 11})
    assert reply["error"]["code"] == "content_too_long"
    await op.disconnect()


async def test_status_priority_read_and_presence_commands(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    reply, frames = await command_expecting(op, "conversation.status", {"conversation_id": conversation.pk,
                                            "status": "resolved"}, is_type("conversation.status_changed"), ref=1)
    assert reply["ok"] and reply["data"]["status"] == "resolved"
    assert first_of(frames, "conversation.status_changed")["data"]["status"] == "resolved"
    reply = await command(op, "conversation.status",
                          {"conversation_id": conversation.pk, "status": "snoozed", "snoozed_until": "2099-01-01T00:00:00Z"}, ref=2)
    assert reply["ok"] and reply["data"]["status"] == "snoozed"
    # Without snoozed_until: snoozed until the contact's next message (DESIGN §11).
    reply, _ = await command_expecting(
        op, "conversation.status", {"conversation_id": conversation.pk, "status": "snoozed"},
        lambda f: f.get("type") == "conversation.status_changed" and f["data"]["status"] == "snoozed"
        and f["data"]["snoozed_until"] is None, ref=21)
    assert reply["ok"] and reply["data"]["status"] == "snoozed" and reply["data"]["snoozed_until"] is None
    bad = await command(op, "conversation.status", {"conversation_id": conversation.pk, "status": "snoozed",
                                                    "snoozed_until": "tomorrow"}, ref=3)
    assert bad["error"]["code"] == "invalid_data"
    bad = await command(op, "conversation.status", {"conversation_id": conversation.pk, "status": "gone"}, ref=4)
    assert bad["error"]["code"] == "invalid_data"
    reply = await command(op, "conversation.priority", {"conversation_id": conversation.pk, "priority": "high"}, ref=5)
    assert reply["ok"] and reply["data"]["priority"] == "high"
    reply, _ = await command_expecting(op, "conversation.read", {"conversation_id": conversation.pk},
                                       is_type("conversation.read"), ref=6)
    assert reply["ok"] and reply["data"] == {"conversation_id": conversation.pk, "recorded": True}
    reply = await command(op, "presence.set", {"status": "busy"}, ref=7)
    assert reply["ok"] and reply["data"] == {"status": "busy"}
    stored = await db(lambda: OperatorProfile.objects.get(user=world.op_a).availability)()
    assert stored == Availability.BUSY
    bad = await command(op, "presence.set", {"status": "asleep"}, ref=8)
    assert bad["error"]["code"] == "invalid_data"
    await op.disconnect()


async def test_assign_and_escalate_answer_once_without_crashing(world):
    await db(lambda: type(world.inbox_a).objects.filter(pk=world.inbox_a.pk).update(enable_auto_assignment=False))()
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    reply, frames = await command_expecting(op, "conversation.assign", {"conversation_id": conversation.pk,
                                            "assignee_id": world.op_a.pk}, ref="a")
    if reply["ok"]:
        assert reply["data"]["assignee"]["id"] == world.op_a.pk
        if not any(f["type"] == "assignee.changed" for f in frames):
            event, _ = await receive_until(op, is_type("assignee.changed"))
        else:
            event = first_of(frames, "assignee.changed")
        assert event["data"]["assignee"]["id"] == world.op_a.pk
    else:  # the assignment service is not there yet: a stable code, no traceback
        assert reply["error"]["code"] in {"internal_error", "not_found", "invalid_data", "conflict"}
        assert "Traceback" not in reply["error"]["message"]
    missing = await command(op, "conversation.assign", {"conversation_id": conversation.pk}, ref="b")
    assert missing["error"]["code"] == "invalid_data"
    reply = await command(op, "conversation.escalate", {"conversation_id": conversation.pk}, ref="c")
    assert reply["type"] == "reply" and reply["ref"] == "c"
    assert (await command(op, "ping", ref="still-open"))["ok"]
    await op.disconnect()


async def test_administrator_sees_every_inbox(world):
    admin = await joined_operator(world.admin)
    widget, _ = await widget_socket(world.visitor_b)
    await command(widget, "message.create", {"content": "from B", "echo_id": "b1"})
    frame, _ = await receive_until(admin, lambda f: f["type"] == "message.created")
    assert frame["data"]["content"] == "from B"
    await admin.disconnect()
    await widget.disconnect()


async def test_operator_of_inbox_a_gets_nothing_from_inbox_b(world):
    op_a = await joined_operator(world.op_a)
    widget_b, _ = await widget_socket(world.visitor_b)
    widget_a, _ = await widget_socket(world.visitor)
    await command(widget_b, "message.create", {"content": "secret B", "echo_id": "b"})
    await command(widget_a, "message.create", {"content": "for A", "echo_id": "a"})
    # Events arrive in id order: anything of B's would come before A's message.
    frame, before = await receive_until(op_a, lambda f: f["type"] == "message.created")
    assert frame["data"]["content"] == "for A"
    assert all(f.get("data", {}).get("inbox") != world.inbox_b.pk for f in before)
    assert {f["type"] for f in before} <= {"conversation.created"}
    conversation_ids = await db(lambda: set(Conversation.objects.filter(inbox=world.inbox_a).values_list("pk", flat=True)))()
    assert all(f["conversation_id"] in conversation_ids for f in before + [frame])
    for comm in (op_a, widget_a, widget_b):
        await comm.disconnect()


async def test_self_release_while_alone_online_keeps_the_conversation_unassigned(world):
    """An operator alone online who unassigns themselves does not get the conversation straight
    back (assignment/cooloff.py): no assignee.changed to them, the conversation waits."""
    await db(lambda: type(world.inbox_a).objects.filter(pk=world.inbox_a.pk).update(enable_auto_assignment=True))()
    op = await joined_operator(world.op_a)  # online: the only member of inbox a
    try:
        conversation = await db(make_conversation)(contact_inbox=world.visitor)
        # Its creation's reactions (auto-assignment) ran after commit in that thread.
        assert await db(lambda: Conversation.objects.get(pk=conversation.pk).assignee_id)() == world.op_a.pk
        reply, frames = await command_expecting(
            op, "conversation.assign", {"conversation_id": conversation.pk, "assignee_id": None},
            lambda f: f.get("type") == "assignee.changed" and f["data"]["assignee"] is None, ref="release")
        assert reply["ok"] and reply["data"]["assignee"] is None
        # The reactions to the release ran after its commit, before the reply (same thread).
        assert await db(lambda: Conversation.objects.get(pk=conversation.pk).assignee_id)() is None
        pong, later = await command_expecting(op, "ping", {}, ref="p")
        assert pong["ok"]
        assert not [f for f in frames + later
                    if f.get("type") == "assignee.changed" and (f["data"]["assignee"] or {}).get("id") == world.op_a.pk
                    and f.get("id", 0) > first_of(frames, "assignee.changed").get("id", 0)]
    finally:
        await op.disconnect()
