"""Resume without loss or duplicates; the poll covers lost pokes; late commits; slow sockets."""
from __future__ import annotations

import asyncio
import json

import pytest
from django.db import transaction

from chat.events import EventType, dispatch
from chat.models import Audience, Event
from chat.realtime.codes import CloseCode
from chat.realtime.hub import get_hub
from tests.concurrency import HeldTransaction
from tests.factories import make_conversation
from tests.payloads import message_stub
from tests.realtime.conftest import (
    closed_with,
    command,
    db,
    eventually,
    joined_operator,
    receive,
    receive_until,
    widget_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)


def note(conversation, text: str, *, audience: str = Audience.EVERYONE) -> int:
    """One durable event on a conversation (what a service would emit), committed."""
    with transaction.atomic():
        return dispatch(
            EventType.MESSAGE_UPDATED,
            payload=message_stub(text),
            inbox_id=conversation.inbox_id,
            conversation_id=conversation.pk,
            contact_inbox_id=conversation.contact_inbox_id,
            audience=audience,
        ).id


async def resume(comm, last_event_id: int, ref: str = "resume"):
    await comm.send_to(text_data=json.dumps({"type": "resume", "ref": ref, "data": {"last_event_id": last_event_id}}))
    return await receive_until(comm, lambda f: f.get("type") == "reply" and f.get("ref") == ref)


async def test_reconnect_with_resume_gets_exactly_the_missing_events(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    seen = [await db(note)(conversation, f"live {i}") for i in range(3)]
    for expected in seen:
        frame, _ = await receive_until(op, lambda f: f["type"] == "message.updated")
        assert frame["id"] == expected
    await op.disconnect()  # the socket dies mid-stream
    missed = [await db(note)(conversation, f"missed {i}") for i in range(4)]
    op = await joined_operator(world.op_a)
    reply, replayed = await resume(op, seen[-1])
    assert reply["ok"], reply
    assert [f["id"] for f in replayed] == missed
    assert reply["data"] == {"replayed": 4, "last_event_id": reply["data"]["last_event_id"]}
    assert reply["data"]["last_event_id"] >= missed[-1]
    after = await db(note)(conversation, "after")
    frame = await receive(op)
    assert frame["id"] == after  # live continues, nothing twice
    await op.disconnect()


async def test_resume_later_in_a_session_sends_nothing_twice(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    before = await db(note)(conversation, "before connect")
    widget, auth = await widget_socket(world.visitor)
    live = await db(note)(conversation, "live")
    assert (await receive(widget))["id"] == live
    reply, replayed = await resume(widget, before - 1)
    # Replays what was before the socket (``before``) but not ``live``, which it already sent.
    assert [f["id"] for f in replayed] == [before] and reply["data"]["replayed"] == 1
    again, replayed = await resume(widget, before - 1, ref="again")
    assert replayed == [] and again["data"]["replayed"] == 0
    await widget.disconnect()


async def test_resume_as_first_command_then_live(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    first = await db(note)(conversation, "one")
    second = await db(note)(conversation, "two")
    op = await joined_operator(world.op_a)
    reply, replayed = await resume(op, first)
    assert [f["id"] for f in replayed] == [second]
    await op.disconnect()


async def test_resume_past_the_bound_requires_resync_and_the_socket_stays_live(world, settings):
    settings.STREAM_RESUME_MAX_EVENTS = 2
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    start = await db(note)(conversation, "start")
    for i in range(3):
        await db(note)(conversation, f"n{i}")
    op = await joined_operator(world.op_a)
    reply, _ = await resume(op, start)
    assert reply["ok"] is False and reply["error"]["code"] == "resync_required"
    live = await db(note)(conversation, "live")
    assert (await receive(op))["id"] == live
    await op.disconnect()


async def test_resume_from_a_pruned_id_requires_resync(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    ids = [await db(note)(conversation, f"n{i}") for i in range(4)]
    await db(lambda: Event.objects.filter(id__lte=ids[1]).delete())()  # retention pruned them
    op = await joined_operator(world.op_a)
    reply, _ = await resume(op, ids[0] - 1 if ids[0] > 1 else ids[0])
    if ids[0] > 1:
        assert reply["error"]["code"] == "resync_required"
    reply, replayed = await resume(op, ids[1], ref="ok")
    assert [f["id"] for f in replayed] == ids[2:]
    await op.disconnect()


async def test_resume_data_is_validated(world):
    op = await joined_operator(world.op_a)
    assert (await command(op, "resume", {}))["error"]["code"] == "invalid_data"
    assert (await command(op, "resume", {"last_event_id": "5"}))["error"]["code"] == "invalid_data"
    assert (await command(op, "resume", {"last_event_id": -1}))["error"]["code"] == "invalid_data"
    await op.disconnect()


async def test_widget_resume_sees_only_what_the_widget_may_see(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    widget, auth = await widget_socket(world.visitor)
    await widget.disconnect()
    hidden = await db(note)(conversation, "operators only", audience=Audience.OPERATORS)
    shown = await db(note)(conversation, "everyone")
    widget, _ = await widget_socket(world.visitor)
    reply, replayed = await resume(widget, auth["data"]["last_event_id"])
    assert [f["id"] for f in replayed] == [shown] and hidden not in [f["id"] for f in replayed]
    await widget.disconnect()


async def test_events_committed_without_a_poke_arrive_through_the_poll(world, settings, monkeypatch):
    settings.STREAM_POLL_SECONDS = 0.2
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    monkeypatch.setattr("chat.events.poke_stream", lambda: None)  # the broadcast is lost
    quiet = await db(note)(conversation, "unannounced")
    frame = await receive(op)
    assert frame["id"] == quiet
    await op.disconnect()


async def test_a_socket_too_slow_to_keep_up_is_closed(world, settings):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    settings.WS_SEND_QUEUE_MAX = 3

    def burst() -> None:
        with transaction.atomic():
            for i in range(10):
                dispatch(EventType.MESSAGE_UPDATED, payload=message_stub(i), inbox_id=conversation.inbox_id,
                         conversation_id=conversation.pk, contact_inbox_id=conversation.contact_inbox_id)

    await db(burst)()
    assert await closed_with(op) == CloseCode.TOO_SLOW


@pytest.mark.postgres
async def test_late_committing_event_is_delivered_in_id_order_and_resumable(world, settings):
    """Event A gets its id first but commits after event B. Without the pending-transaction
    rule the reader would deliver B, move its cursor past A, and A would never arrive; a resume
    from B's id would miss it too."""
    settings.STREAM_POLL_SECONDS = 0.05
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)

    late = HeldTransaction(EventType.MESSAGE_UPDATED, payload=message_stub("a"), inbox_id=conversation.inbox_id,
                           conversation_id=conversation.pk, contact_inbox_id=conversation.contact_inbox_id,
                           audience=Audience.EVERYONE)
    ids: dict[str, int] = {"a": await asyncio.to_thread(late.start)}
    try:
        ids["b"] = await db(note)(conversation, "b")  # commits first
        assert ids["b"] > ids["a"]
        # Let the hub read the outbox at least once with B visible and A not yet committed:
        # it must hold B back (a reader without the rule would send B and skip A for ever).
        hub = get_hub()
        reads = hub.reads
        await eventually(lambda: hub.reads >= reads + 2)
        assert hub.cursor < ids["a"]
        # Then A commits and both arrive, A first.
    finally:
        await asyncio.to_thread(late.commit)
    first = await receive(op)
    second = await receive(op)
    assert [first["id"], second["id"]] == [ids["a"], ids["b"]]
    await op.disconnect()
    # Resume from before A on a new socket: both, in order.
    op = await joined_operator(world.op_a)
    reply, replayed = await resume(op, ids["a"] - 1)
    assert [f["id"] for f in replayed if f["type"] == "message.updated"] == [ids["a"], ids["b"]]
    await op.disconnect()


@pytest.mark.postgres
async def test_snapshot_watermark_excludes_uncommitted_lower_ids(world):
    """The hub's cursor (what auth replies and resume replay up to) never passes an id whose
    transaction is still open, so a resume from it cannot skip a late commit."""
    conversation = await db(make_conversation)(contact_inbox=world.visitor)

    late = HeldTransaction(EventType.MESSAGE_UPDATED, payload=message_stub("a"), inbox_id=conversation.inbox_id,
                           conversation_id=conversation.pk, contact_inbox_id=conversation.contact_inbox_id,
                           audience=Audience.EVERYONE)
    ids: dict[str, int] = {"a": await asyncio.to_thread(late.start)}
    try:
        ids["b"] = await db(note)(conversation, "b")
        widget, auth = await widget_socket(world.visitor)
        assert auth["data"]["last_event_id"] < ids["a"]
    finally:
        await asyncio.to_thread(late.commit)
    _, frames = await receive_until(widget, lambda f: f.get("id") == ids["b"])
    assert [f["id"] for f in frames if "id" in f] == [ids["a"]]
    await widget.disconnect()
