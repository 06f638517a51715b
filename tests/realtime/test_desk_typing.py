"""Typing among operators (notes vs replies) and the visitor's sneak peek (DESIGN §11)."""
from __future__ import annotations

import asyncio
import json

import pytest

from chat.models import Inbox
from chat.services.typing import DraftOffer, DraftThrottle
from tests.factories import InboxMemberFactory, make_conversation
from tests.realtime.conftest import (
    command,
    db,
    eventually,
    joined_operator,
    receive,
    receive_until,
    widget_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)

typing = lambda f: "typing" in f.get("type", "")  # noqa: E731


async def _nothing_typing(comm, ref: str = "after") -> list[dict]:
    """Frames up to a ping's reply, typing ones only (what arrived before the round trip)."""
    await comm.send_to(text_data=json.dumps({"type": "ping", "ref": ref}))
    _, frames = await receive_until(comm, lambda f: f.get("ref") == ref)
    return [f for f in frames if typing(f)]


async def _colleague(world):
    colleague = await db(lambda: InboxMemberFactory(inbox=world.inbox_a).user)()
    return colleague


# --- pure throttle --------------------------------------------------------------------------------


def test_throttle_sends_first_keeps_latest_and_flushes_at_window_end():
    throttle = DraftThrottle(0.5)
    assert throttle.offer(DraftOffer(1, "h"), now=10.0) == (True, None)
    assert throttle.offer(DraftOffer(1, "he"), now=10.1) == (False, pytest.approx(0.4))
    assert throttle.offer(DraftOffer(1, "hel"), now=10.2) == (False, None)  # the timer already runs
    assert throttle.take(now=10.5) == DraftOffer(1, "hel")  # the latest of the window wins
    assert throttle.take(now=10.5) is None
    assert throttle.offer(DraftOffer(1, "hell"), now=10.7) == (False, pytest.approx(0.3))
    throttle.cancel()  # a stop or the message itself
    assert throttle.take(now=11.0) is None
    assert throttle.offer(DraftOffer(1, "hello"), now=11.2) == (True, None)


# --- operators ------------------------------------------------------------------------------------


async def test_operator_reply_typing_reaches_colleagues_and_visitor_note_typing_only_colleagues(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    colleague = await _colleague(world)
    widget, _ = await widget_socket(world.visitor)
    typist = await joined_operator(world.op_a)
    other = await joined_operator(colleague)
    admin = await joined_operator(world.admin)
    outsider = await joined_operator(world.op_b)

    assert (await command(typist, "typing.start", {"conversation_id": conversation.pk}, ref="t1"))["ok"]
    for comm in (other, admin):
        frame, _ = await receive_until(comm, typing)
        assert frame["type"] == "conversation.typing_started"
        assert frame["data"]["side"] == "agent" and frame["data"]["private"] is False
        assert frame["data"]["user"] == {"id": world.op_a.pk, "name": frame["data"]["user"]["name"]}
        assert frame["data"]["user"]["name"]
    frame, _ = await receive_until(widget, typing)
    assert frame["type"] == "conversation.typing_started" and frame["data"]["user"]["id"] == world.op_a.pk
    assert "username" not in frame["data"]["user"]

    # Switching to a note: the visitor's indicator stops, colleagues see "writing a note".
    reply = await command(typist, "typing.start", {"conversation_id": conversation.pk, "private": True}, ref="t2")
    assert reply["ok"] and reply["data"]["private"] is True
    assert (await receive_until(widget, typing))[0]["type"] == "conversation.typing_stopped"
    frame, _ = await receive_until(other, lambda f: typing(f) and f["type"].endswith("started"))
    assert frame["data"]["private"] is True
    # The note keeps being typed: nothing more reaches the widget.
    assert (await command(typist, "typing.start", {"conversation_id": conversation.pk, "private": True}, ref="t3"))["ok"]
    await receive_until(other, lambda f: typing(f) and f["data"].get("private") is True)
    assert await _nothing_typing(widget) == []
    assert await _nothing_typing(outsider) == []  # another inbox's operator sees nothing
    assert await _nothing_typing(typist) == []  # never echoed to the typist's own socket
    for comm in (typist, other, admin, outsider, widget):
        await comm.disconnect()


async def test_both_operators_typing_at_once_each_sees_the_other(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    colleague = await _colleague(world)
    ann = await joined_operator(world.op_a)
    bob = await joined_operator(colleague)
    await asyncio.gather(
        command(ann, "typing.start", {"conversation_id": conversation.pk}, ref="a"),
        command(bob, "typing.start", {"conversation_id": conversation.pk}, ref="b"),
    )
    seen_by_ann, _ = await receive_until(ann, typing)
    seen_by_bob, _ = await receive_until(bob, typing)
    assert seen_by_ann["data"]["user"]["id"] == colleague.pk
    assert seen_by_bob["data"]["user"]["id"] == world.op_a.pk
    await ann.disconnect()
    await bob.disconnect()


async def test_operator_typing_outside_scope_is_not_found(world):
    conversation_b = await db(make_conversation)(contact_inbox=world.visitor_b)
    op = await joined_operator(world.op_a)
    reply = await command(op, "typing.start", {"conversation_id": conversation_b.pk, "private": True})
    assert reply["error"]["code"] == "not_found"
    reply = await command(op, "typing.start", {"conversation_id": conversation_b.pk, "private": "yes"}, ref="x")
    assert reply["error"]["code"] == "invalid_data"
    await op.disconnect()


# --- sneak peek -----------------------------------------------------------------------------------


async def _sneak_peek(inbox, on: bool) -> None:
    await db(lambda: Inbox.objects.filter(pk=inbox.pk).update(sneak_peek=on))()


async def test_draft_reaches_operators_cut_to_1000_and_never_a_widget(world):
    await _sneak_peek(world.inbox_a, True)
    await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    outsider = await joined_operator(world.op_b)
    widget, _ = await widget_socket(world.visitor)
    second_tab, _ = await widget_socket(world.visitor)
    draft = "x" * 10_000  # a 10 kB draft
    assert (await command(widget, "typing.start", {"draft": draft}, ref="d"))["ok"]
    frame, _ = await receive_until(op, typing)
    assert frame["type"] == "conversation.typing_started" and frame["data"]["side"] == "contact"
    assert frame["data"]["draft"] == "x" * 1000
    assert await _nothing_typing(outsider) == []
    assert await _nothing_typing(second_tab) == []  # the visitor's own other tab: never
    assert await _nothing_typing(widget) == []
    for comm in (op, outsider, widget, second_tab):
        await comm.disconnect()


async def test_draft_dropped_when_sneak_peek_is_off(world):
    await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    widget, _ = await widget_socket(world.visitor)
    assert (await command(widget, "typing.start", {"draft": "my card 4111"}, ref="d"))["ok"]
    frame, _ = await receive_until(op, typing)
    assert frame["type"] == "conversation.typing_started" and "draft" not in frame["data"]
    await op.disconnect()
    await widget.disconnect()


async def test_drafts_are_throttled_and_the_latest_of_a_window_arrives(world, settings):
    settings.TYPING_DRAFT_INTERVAL_SECONDS = 0.5
    await _sneak_peek(world.inbox_a, True)
    await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    widget, _ = await widget_socket(world.visitor)
    for index, text in enumerate(["h", "he", "hel", "hell", "hello"]):
        assert (await command(widget, "typing.start", {"draft": text}, ref=f"k{index}"))["ok"]
    first, _ = await receive_until(op, typing)
    second, _ = await receive_until(op, typing)
    assert first["data"]["draft"] == "h"
    assert second["data"]["draft"] == "hello"  # trailing edge: the last keystrokes are not lost
    # When the window's end comes is the pure throttle's test above (no wall clock in a test).
    assert await _nothing_typing(op) == []  # nothing in between
    await op.disconnect()
    await widget.disconnect()


async def test_stop_cancels_a_kept_draft(world, settings):
    settings.TYPING_DRAFT_INTERVAL_SECONDS = 0.2
    await _sneak_peek(world.inbox_a, True)
    await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    widget, _ = await widget_socket(world.visitor)
    loop = asyncio.get_running_loop()
    await command(widget, "typing.start", {"draft": "first"}, ref="a")
    window_end = loop.time() + 0.2
    await command(widget, "typing.start", {"draft": "kept"}, ref="b")
    await command(widget, "typing.stop", {}, ref="c")
    # Past the window's end a kept draft would have been flushed (the flush and the next start
    # take the same lock, in that order); the next start is sent at once and comes after it.
    await eventually(lambda: loop.time() > window_end + 0.05)
    await command(widget, "typing.start", {"draft": "later"}, ref="d")
    last, frames = await receive_until(op, lambda f: typing(f) and f["data"].get("draft") == "later")
    drafts = [f["data"].get("draft") for f in frames if typing(f)]
    assert drafts == ["first", None]  # started "first", stopped; never "kept"
    await op.disconnect()
    await widget.disconnect()


async def test_draft_of_another_inbox_reaches_only_that_inbox(world):
    await _sneak_peek(world.inbox_b, True)
    await db(make_conversation)(contact_inbox=world.visitor_b)
    op_a = await joined_operator(world.op_a)
    op_b = await joined_operator(world.op_b)
    widget_b, _ = await widget_socket(world.visitor_b)
    await command(widget_b, "typing.start", {"draft": "other inbox"}, ref="d")
    frame, _ = await receive_until(op_b, typing)
    assert frame["data"]["draft"] == "other inbox"
    assert await _nothing_typing(op_a) == []
    for comm in (op_a, op_b, widget_b):
        await comm.disconnect()


async def test_visitor_and_operator_typing_at_once(world):
    await _sneak_peek(world.inbox_a, True)
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    widget, _ = await widget_socket(world.visitor)
    await asyncio.gather(
        command(widget, "typing.start", {"draft": "hi?"}, ref="w"),
        command(op, "typing.start", {"conversation_id": conversation.pk}, ref="o"),
    )
    seen_by_op, _ = await receive_until(op, typing)
    seen_by_widget, _ = await receive_until(widget, typing)
    assert seen_by_op["data"]["side"] == "contact" and seen_by_op["data"]["draft"] == "hi?"
    assert seen_by_widget["data"]["side"] == "agent" and "draft" not in seen_by_widget["data"]
    await op.disconnect()
    await widget.disconnect()


async def test_widget_rest_typing_carries_the_draft_and_keeps_the_latest(world, settings):
    from rest_framework.test import APIClient

    settings.TYPING_DRAFT_INTERVAL_SECONDS = 0.4
    await _sneak_peek(world.inbox_a, True)
    await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)

    def post(body: dict) -> int:
        client = APIClient()
        return client.post("/api/widget/v1/typing", body, format="json",
                           HTTP_X_WIDGET_TOKEN=world.visitor.pubsub_token).status_code

    assert await db(post)({"typing": True, "draft": "y" * 5000}) == 204
    assert await db(post)({"typing": True, "draft": "second"}) == 204
    assert await db(post)({"typing": True, "draft": "third"}) == 204
    first, _ = await receive_until(op, typing)
    second, _ = await receive_until(op, typing)
    assert first["data"]["draft"] == "y" * 1000
    assert second["data"]["draft"] == "third"
    assert await db(post)({"typing": "maybe"}) == 400
    await op.disconnect()


async def test_typing_frames_reach_the_operator_with_expiry(world):
    await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    widget, _ = await widget_socket(world.visitor)
    await command(widget, "typing.start", {}, ref="t")
    frame = await receive(op)
    assert frame["data"]["expires_in"] > 0 and frame["data"]["user"] is None
    await op.disconnect()
    await widget.disconnect()
