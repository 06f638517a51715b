"""Operator socket: ``message.delete`` and ``message.create {attachments}`` (DESIGN §11)."""
from __future__ import annotations

import base64

import pytest
from django.test import Client

from chat.models import Attachment, Message
from chat.services.messages import message_create
from tests.factories import InboxMemberFactory, make_conversation
from tests.realtime.conftest import (
    command,
    command_expecting,
    db,
    is_type,
    joined_operator,
    receive_until,
    widget_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 16


def _file(name: str, content_type: str, body: bytes = PNG) -> dict:
    return {"name": name, "content_type": content_type, "data": base64.b64encode(body).decode()}


async def _say(conversation, user, content: str, **kwargs) -> Message:
    return await db(lambda: message_create(conversation_id=conversation.pk, direction="outgoing", content=content,
                                           sender_user=user, **kwargs).message)()


async def test_delete_reaches_operators_and_the_widget_for_a_reply(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    widget, _ = await widget_socket(world.visitor)
    admin = await joined_operator(world.admin)
    op = await joined_operator(world.op_a)
    message = await _say(conversation, world.op_a, "wrong price")
    await receive_until(widget, lambda f: f.get("type") == "message.created" and f["data"]["id"] == message.pk)
    reply, frames = await command_expecting(op, "message.delete", {"message_id": message.pk},
                                            is_type("message.updated"), ref="d")
    assert reply["ok"] and reply["data"]["content_attributes"]["deleted"] is True and reply["data"]["content"] == ""
    for comm in (widget, admin):
        frame, _ = await receive_until(comm, is_type("message.updated"))
        assert frame["data"]["id"] == message.pk and frame["data"]["content"] == ""
        assert frame["data"]["content_attributes"]["deleted"] is True
    again = await command(op, "message.delete", {"message_id": message.pk}, ref="again")
    assert again["ok"]  # idempotent
    for comm in (widget, admin, op):
        await comm.disconnect()


async def test_deleting_a_note_never_reaches_the_widget(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    widget, _ = await widget_socket(world.visitor)
    op = await joined_operator(world.op_a)
    note = await _say(conversation, world.op_a, "internal", private=True)
    marker = await _say(conversation, world.op_a, "public after")
    reply, _ = await command_expecting(op, "message.delete", {"message_id": note.pk}, is_type("message.updated"))
    assert reply["ok"]
    public = await _say(conversation, world.op_a, "last")
    # The widget sees the public messages and nothing of the note, neither created nor updated.
    _, frames = await receive_until(widget, lambda f: f.get("type") == "message.created" and f["data"]["id"] == public.pk)
    ids = [f["data"].get("id") for f in frames if f.get("type", "").startswith("message.")]
    assert note.pk not in ids and marker.pk in ids
    await widget.disconnect()
    await op.disconnect()


async def test_non_author_agent_forbidden_other_inbox_not_found(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    colleague = await db(lambda: InboxMemberFactory(inbox=world.inbox_a).user)()
    message = await _say(conversation, world.op_a, "mine")
    other = await joined_operator(colleague)
    outsider = await joined_operator(world.op_b)
    assert (await command(other, "message.delete", {"message_id": message.pk}))["error"]["code"] == "permission_denied"
    assert (await command(outsider, "message.delete", {"message_id": message.pk}))["error"]["code"] == "not_found"
    assert (await command(other, "message.delete", {"message_id": "x"}, ref="bad"))["error"]["code"] == "invalid_data"
    assert (await db(Message.objects.get)(pk=message.pk)).content == "mine"
    await other.disconnect()
    await outsider.disconnect()


async def test_operator_sends_attachments_in_the_widget_shape(world, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    widget, _ = await widget_socket(world.visitor)
    reply = await command(op, "message.create", {"conversation_id": conversation.pk, "echo_id": "f1",
                                                 "attachments": [_file("shot.png", "image/png")]})
    assert reply["ok"], reply
    attachment = reply["data"]["attachments"][0]
    assert attachment["file_type"] == "image/png" and attachment["size"] == len(PNG)
    assert attachment["name"].endswith(".png")
    frame, _ = await receive_until(widget, lambda f: f.get("type") == "message.created")
    assert frame["data"]["attachments"][0]["url"] == attachment["url"]
    # Same policy as the widget's: a disallowed type, a lying extension, too many files.
    for bad, code in [
        ([_file("page.html", "text/html", b"<script>")], "invalid_attachment"),
        ([_file("x.svg", "image/svg+xml", b"<svg/>")], "invalid_attachment"),
        ([_file("run.png", "application/x-msdownload")], "invalid_attachment"),
        ([_file("a.pdf", "image/png")], "invalid_attachment"),
        ([{"name": "a.png", "content_type": "image/png", "data": "not base64!"}], "invalid_attachment"),
        ([_file("a.png", "image/png")] * 16, "too_many_attachments"),
    ]:
        refused = await command(op, "message.create", {"conversation_id": conversation.pk, "attachments": bad},
                                ref="bad")
        assert refused["error"]["code"] == code, (bad[0]["name"], refused)
    assert await db(Attachment.objects.count)() == 1
    await op.disconnect()
    await widget.disconnect()


async def test_a_notes_attachment_link_wants_an_operator_who_sees_it(world, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    reply = await command(op, "message.create", {"conversation_id": conversation.pk, "private": True,
                                                 "attachments": [_file("note.png", "image/png")]})
    url = reply["data"]["attachments"][0]["url"]

    def fetch(user=None, token_user=None) -> int:
        from rest_framework.authtoken.models import Token

        client = Client()
        if user is not None:
            client.force_login(user)
        headers = {}
        if token_user is not None:
            headers["HTTP_AUTHORIZATION"] = f"Token {Token.objects.get_or_create(user=token_user)[0].key}"
        response = client.get(url, **headers)
        response.close()
        return response.status_code

    assert await db(fetch)() == 404  # the link alone (a visitor, a leak) is not enough
    assert await db(fetch)(user=world.op_b) == 404  # an operator of another inbox
    assert await db(fetch)(user=world.op_a) == 200
    assert await db(fetch)(token_user=world.op_a) == 200
    assert await db(fetch)(user=world.admin) == 200
    await op.disconnect()
