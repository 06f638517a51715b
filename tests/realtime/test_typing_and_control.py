"""Ephemeral typing frames and channel-layer control messages."""
from __future__ import annotations

import pytest

from chat.models import InboxMember
from chat.realtime.codes import CloseCode
from chat.realtime.control import close_contact_sockets, close_operator_sockets, notify_membership_changed
from chat.realtime.hub import get_hub
from chat.realtime.scopes import OperatorScope
from tests.factories import make_conversation
from tests.realtime.conftest import (
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


async def test_visitor_typing_reaches_operators_and_stops_when_the_visitor_vanishes(world):
    await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    widget, auth = await widget_socket(world.visitor)
    reply = await command(widget, "typing.start", ref="t")
    assert reply["ok"]
    frame = await receive(op)
    assert frame["type"] == "conversation.typing_started" and "id" not in frame
    assert frame["conversation_id"] == auth["data"]["conversation_id"]
    assert frame["data"]["side"] == "contact" and frame["data"]["expires_in"] > 0
    await widget.disconnect()  # mid-typing
    frame = await receive(op)
    assert frame["type"] == "conversation.typing_stopped"
    await op.disconnect()


async def test_operator_typing_reaches_the_widget_not_the_sender(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    widget, _ = await widget_socket(world.visitor)
    op = await joined_operator(world.op_a)
    assert (await command(op, "typing.start", {"conversation_id": conversation.pk}, ref="t"))["ok"]
    frame, _ = await receive_until(widget, lambda f: "typing" in f["type"])
    assert frame["type"] == "conversation.typing_started" and frame["data"]["side"] == "agent"
    assert frame["data"]["user"]["id"] == world.op_a.pk
    assert (await command(op, "typing.stop", {"conversation_id": conversation.pk}, ref="s"))["ok"]
    assert (await receive_until(widget, lambda f: "typing" in f["type"]))[0]["type"] == "conversation.typing_stopped"
    # Its own typing never echoes back (a ping round trip after the stop, then nothing typing).
    _, frames = await receive_until(op, lambda f: f.get("ref") == "after")  if await _ping(op) else (None, [])
    assert not [f for f in frames if "typing" in f["type"]]
    await op.disconnect()
    await widget.disconnect()


async def test_typing_stops_by_itself_without_renewal(world, settings):
    settings.TYPING_TIMEOUT_SECONDS = 0.2
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    widget, _ = await widget_socket(world.visitor)
    op = await joined_operator(world.op_a)
    await command(op, "typing.start", {"conversation_id": conversation.pk}, ref="t")
    typing = lambda f: "typing" in f["type"]  # noqa: E731
    assert (await receive_until(widget, typing))[0]["type"] == "conversation.typing_started"
    assert (await receive_until(widget, typing))[0]["type"] == "conversation.typing_stopped"
    await op.disconnect()
    await widget.disconnect()


async def test_membership_change_is_followed_without_reconnecting(world):
    conversation_b = await db(make_conversation)(contact_inbox=world.visitor_b)
    op = await joined_operator(world.op_a)
    hub = get_hub()
    sink = next(iter(s for s in hub._sinks if isinstance(s.scope, OperatorScope)))
    await db(lambda: InboxMember.objects.create(inbox=world.inbox_b, user=world.op_a))()
    await db(notify_membership_changed)(user_id=world.op_a.pk)
    await _until(lambda: world.inbox_b.pk in (sink.scope.inbox_ids or ()))
    reply, frames = await command_expecting(op, "conversation.priority", {"conversation_id": conversation_b.pk,
                                            "priority": "low"}, is_type("conversation.updated"), ref="p")
    assert reply["ok"], reply
    assert first_of(frames, "conversation.updated")["conversation_id"] == conversation_b.pk
    # And the other way: removed from inbox A, nothing of A any more.
    await db(lambda: InboxMember.objects.filter(inbox=world.inbox_a, user=world.op_a).delete())()
    await db(notify_membership_changed)(user_id=world.op_a.pk)
    await _until(lambda: world.inbox_a.pk not in (sink.scope.inbox_ids or ()))
    conversation_a = await db(make_conversation)(contact_inbox=world.visitor)
    reply = await command(op, "conversation.read", {"conversation_id": conversation_a.pk}, ref="r")
    assert reply["error"]["code"] == "not_found"
    await op.disconnect()


async def _ping(comm) -> bool:
    import json

    await comm.send_to(text_data=json.dumps({"type": "ping", "ref": "after"}))
    return True


async def _until(condition):
    from tests.realtime.conftest import eventually

    await eventually(condition)


async def test_operator_sockets_can_be_closed_by_control_message(world):
    op = await joined_operator(world.op_a)
    await db(close_operator_sockets)(user_id=world.op_a.pk)
    assert await closed_with(op) == CloseCode.FORBIDDEN


async def test_blocked_contact_sockets_are_closed(world):
    widget, _ = await widget_socket(world.visitor)
    await db(close_contact_sockets)(contact_id=world.visitor.contact_id)
    assert await closed_with(widget) == CloseCode.FORBIDDEN
