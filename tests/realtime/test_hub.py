"""The hub's fan-out and a sink's exactly-once bookkeeping, without sockets or a database."""
from __future__ import annotations

import json

import pytest

from chat.models import Audience, Event
from chat.realtime.hub import QueueSink, SocketSink, StreamHub
from chat.realtime.scopes import OperatorScope, WidgetScope


def event(id: int, *, type: str = "message.created", inbox: int = 1, contact_inbox: int | None = 10,
          audience: str = Audience.EVERYONE, user: int | None = None, payload: dict | None = None) -> Event:
    return Event(id=id, type=type, inbox_id=inbox, conversation_id=5, contact_inbox_id=contact_inbox,
                 user_id=user, audience=audience, payload=payload or {"n": id})


def subscribed(hub: StreamHub, scope) -> QueueSink:
    sink = QueueSink(scope)
    hub._sinks.add(sink)
    hub._index(sink)
    return sink


def ids(sink: QueueSink) -> list[int]:
    return [event_id for event_id, _ in sink.take()]


async def test_fan_out_follows_the_visibility_rules():
    hub = StreamHub()
    operator = subscribed(hub, OperatorScope(user_id=7, inbox_ids=frozenset({1})))
    other_inbox = subscribed(hub, OperatorScope(user_id=8, inbox_ids=frozenset({2})))
    admin = subscribed(hub, OperatorScope(user_id=9, inbox_ids=None))
    widget = subscribed(hub, WidgetScope(inbox_id=1, contact_inbox_id=10))
    neighbour = subscribed(hub, WidgetScope(inbox_id=1, contact_inbox_id=11))
    hub.fan_out([
        event(1),                                            # a visitor's message
        event(2, audience=Audience.OPERATORS),               # private note, activity line
        event(3, type="assignee.changed"),                   # operator-only type
        event(4, user=8),                                    # personal, for someone else
        event(5, user=7),                                    # personal, for this operator
        event(6, contact_inbox=None, type="presence.updated"),  # inbox-wide, for every widget
        event(7, inbox=2, contact_inbox=20),                 # another inbox
    ])
    assert ids(operator) == [1, 2, 3, 5, 6]
    assert ids(other_inbox) == [4, 7]  # 4: their own personal event, of an inbox they do not see
    assert ids(admin) == [1, 2, 3, 6, 7]
    assert ids(widget) == [1, 6]
    assert ids(neighbour) == [6]


async def test_widget_frames_show_the_widget_view_of_a_conversation():
    hub = StreamHub()
    operator = subscribed(hub, OperatorScope(user_id=7, inbox_ids=frozenset({1})))
    widget = subscribed(hub, WidgetScope(inbox_id=1, contact_inbox_id=10))
    payload = {"id": 5, "status": "open", "contact": {"id": 1, "email": "a@b.c"}, "assignee": None}
    hub.fan_out([event(1, type="conversation.updated", payload=payload)])
    (_, op_text), = operator.take()
    (_, widget_text), = widget.take()
    assert json.loads(op_text)["data"]["contact"]["email"] == "a@b.c"
    frame = json.loads(widget_text)
    assert frame == {"type": "conversation.updated", "id": 1, "conversation_id": 5, "data": frame["data"]}
    assert "contact" not in frame["data"] and frame["data"]["status"] == "open"


async def test_a_sink_gets_each_id_once_in_order_and_replays_before_held_live_events():
    sink = QueueSink(OperatorScope(user_id=7, inbox_ids=frozenset({1})))
    sink.start_at(100)
    sink.deliver(100, "old")          # at or below its position: already had it
    sink.deliver(101, "a")
    sink.deliver(101, "a again")      # a duplicate
    assert sink.take() == [(101, "a")]
    sink.hold()                       # a resume from 90 starts; live events keep coming
    sink.deliver(102, "b")
    sink.release([(95, "r1"), (98, "r2")], after=90, upto=101, reply="reply")
    assert sink.take() == [(95, "r1"), (98, "r2"), (None, "reply"), (102, "b")]
    assert (sink.covered_from, sink.last_sent_id) == (90, 102)


async def test_a_sink_too_far_behind_is_closed(settings):
    settings.WS_SEND_QUEUE_MAX = 2
    sink = QueueSink(WidgetScope(inbox_id=1, contact_inbox_id=10))
    for i in range(1, 5):
        sink.deliver(i, str(i))
    assert sink.closed
    assert await sink.wait(0) is True  # a waiting stream wakes up and ends


async def test_rescoping_moves_a_subscriber_between_inboxes():
    old_inbox, new_inbox = 1, 2
    hub = StreamHub()
    sink = subscribed(hub, OperatorScope(user_id=7, inbox_ids=frozenset({old_inbox})))
    hub.rescope(sink, OperatorScope(user_id=7, inbox_ids=frozenset({new_inbox})))
    hub.fan_out([event(1, inbox=old_inbox), event(2, inbox=new_inbox, contact_inbox=20)])
    assert ids(sink) == [2]
    assert old_inbox not in hub._operators_by_inbox  # the old inbox's index entry is gone


async def test_a_queue_sink_is_bounded_in_bytes(settings):
    """SSE and long-poll sinks have the socket's byte bound (frames far below the frame bound)."""
    settings.WS_SEND_BUFFER_MAX_BYTES = 1000
    sink = QueueSink(WidgetScope(inbox_id=1, contact_inbox_id=10))
    sink.deliver(1, "x" * 600)
    assert not sink.closed
    sink.deliver(2, "é" * 300)  # 600 bytes of UTF-8 in 300 characters: bytes are counted
    assert sink.closed and await sink.wait(0) is True
    assert [event_id for event_id, _ in sink.take()] == [1, 2] and sink.queued_bytes == 0


async def test_held_live_events_are_bounded_in_bytes_during_a_replay(settings):
    settings.WS_SEND_BUFFER_MAX_BYTES = 1000
    sink = QueueSink(OperatorScope(user_id=7, inbox_ids=frozenset({1})))
    sink.hold()
    sink.deliver(1, "x" * 600)
    sink.deliver(2, "x" * 600)
    assert sink.closed


async def test_a_socket_sink_counts_what_the_server_holds(settings):
    """Bytes the server accepted and the client has not read count toward the bound (daphne)."""
    import asyncio

    settings.WS_SEND_BUFFER_MAX_BYTES = 1000
    sent, closed, server_holds = [], [], [0]

    async def send(text):
        sent.append(text)
        server_holds[0] += len(text)  # a client that never reads

    async def close(code):
        closed.append(code)

    sink = SocketSink(OperatorScope(user_id=7, inbox_ids=frozenset({1})), send=send, close=close,
                      backlog=lambda: server_holds[0])
    sink.deliver(1, "x" * 600)
    await sink.flushed()
    assert sent and not sink.closed and sink.pending_bytes == 600
    sink.deliver(2, "x" * 600)
    await asyncio.sleep(0)  # the close task runs
    assert sink.closed and closed == [4429] and len(sent) == 1


async def test_a_replay_larger_than_the_bound_asks_for_a_resync(settings, transactional_db):
    from channels.db import database_sync_to_async
    from django.db import transaction

    from chat.errors import ResyncRequired
    from chat.events import EventType, dispatch
    from chat.realtime.replay import replay_events
    from tests.factories import InboxFactory
    from tests.payloads import message_stub

    def write() -> tuple[int, int]:
        inbox = InboxFactory()
        with transaction.atomic():
            ids = [dispatch(EventType.MESSAGE_UPDATED, payload=message_stub("x" * 400), inbox_id=inbox.pk).id
                   for _ in range(3)]
        return inbox.pk, ids[-1]

    inbox_id, last = await database_sync_to_async(write)()
    scope = OperatorScope(user_id=7, inbox_ids=frozenset({inbox_id}))
    replay = database_sync_to_async(replay_events)
    assert len(await replay(scope=scope, after=0, upto=last)) == 3
    settings.WS_SEND_BUFFER_MAX_BYTES = 1000
    with pytest.raises(ResyncRequired):
        await replay(scope=scope, after=0, upto=last)
