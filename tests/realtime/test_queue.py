"""Queue position (chat/services/queue.py) end to end: ``queue.updated`` reaches each waiting
visitor's widget (socket, SSE, long-poll) when its conversation starts, on connect and when its
place changes as others are served; operators and other visitors never get it."""
from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta

import pytest
from django.test import AsyncClient
from django.utils import timezone

from assignment.services import assign_conversation
from chat.models import Conversation
from chat.services.messages import message_create
from chat.services.queue import median_first_response_seconds, queue_refresh, queue_status
from chat.store import get_store
from tests.factories import ContactInboxFactory, InboxFactory, make_conversation
from tests.realtime.conftest import (
    ORIGIN,
    command,
    db,
    joined_operator,
    receive,
    widget_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)
QUEUE = "queue.updated"


OWN: dict[int, int] = {}  # id(socket) -> the conversation its queue frames must be about


@pytest.fixture(autouse=True)
def _forget_sockets():
    OWN.clear()


async def next_queue_frame(comm, timeout: float = 10.0) -> dict:
    """The next queue.updated this socket gets (other frames are passed over); a visitor never
    gets another conversation's."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await receive(comm, max(0.01, deadline - loop.time()))
        if frame.get("type") == QUEUE:
            own = OWN.setdefault(id(comm), frame["conversation_id"])
            assert frame["conversation_id"] == own == frame["data"]["conversation_id"], frame
            return frame


async def no_queue_frame(comm, quiet: float = 0.5) -> list[dict]:
    """Every frame the socket gets until it stays quiet; asserts none is queue.updated."""
    frames = []
    while not await comm.receive_nothing(quiet):  # (a receive that times out ends the app)
        frames.append(json.loads(await comm.receive_from()))
    assert not [f for f in frames if f.get("type") == QUEUE], frames
    return frames


async def conversation_of(contact_inbox) -> Conversation:
    return await db(lambda: Conversation.objects.get(contact_inbox=contact_inbox))()


async def test_positions_follow_as_others_are_served_and_operators_never_get_them(world):
    visitors = [world.visitor, *[await db(ContactInboxFactory)(inbox=world.inbox_a) for _ in range(2)]]
    operator = await joined_operator(world.op_a)
    stranger, _ = await widget_socket(world.visitor_b)
    sockets = []
    for index, visitor in enumerate(visitors):
        comm, reply = await widget_socket(visitor)
        assert reply["data"]["queue"] is None  # nothing to wait for yet
        sockets.append(comm)
        sent = await command(comm, "message.create", {"content": f"hello {index}", "echo_id": f"q{index}"})
        assert sent["ok"], sent
        frame = await next_queue_frame(comm)  # its conversation started: its place in line
        assert frame["data"]["position"] == index + 1 and "id" not in frame
        assert frame["data"]["expected_wait_seconds"] is None  # no answered conversation yet
        assert frame["conversation_id"] == sent["data"]["conversation_id"]
    first, second, third = [await conversation_of(v) for v in visitors]

    # The first is assigned: it leaves the line, the others move up.
    await db(assign_conversation)(conversation_id=first.pk, assignee_id=world.op_a.pk, actor=world.op_a)
    assert (await next_queue_frame(sockets[0]))["data"] == {
        "conversation_id": first.pk, "position": None, "expected_wait_seconds": None}
    assert (await next_queue_frame(sockets[1]))["data"]["position"] == 1
    assert (await next_queue_frame(sockets[2]))["data"]["position"] == 2

    # An operator answers the second without taking it: its wait is over, the third moves up.
    await db(message_create)(conversation_id=second.pk, direction="outgoing", content="On it", sender_user=world.op_a)
    assert (await next_queue_frame(sockets[1]))["data"]["position"] is None
    third_now = (await next_queue_frame(sockets[2]))["data"]
    assert third_now["position"] == 1
    # One conversation answered (the second): the estimate now has data.
    assert isinstance(third_now["expected_wait_seconds"], int)

    # A new socket of the third visitor learns its place on connect (reply and frame).
    again, reply = await widget_socket(visitors[2])
    assert reply["data"]["queue"]["position"] == 1 and reply["data"]["queue"]["conversation_id"] == third.pk
    assert (await next_queue_frame(again))["data"]["position"] == 1

    # Nobody else heard any of it.
    await no_queue_frame(operator)
    await no_queue_frame(stranger)
    for comm in (*sockets, again, operator, stranger):
        await comm.disconnect()


async def test_resolving_an_unassigned_conversation_moves_the_line_and_messages_while_waiting_do_not(world):
    a, b = world.visitor, await db(ContactInboxFactory)(inbox=world.inbox_a)
    comm_a, _ = await widget_socket(a)
    comm_b, _ = await widget_socket(b)
    await command(comm_a, "message.create", {"content": "a", "echo_id": "a1"})
    assert (await next_queue_frame(comm_a))["data"]["position"] == 1
    await command(comm_b, "message.create", {"content": "b", "echo_id": "b1"})
    assert (await next_queue_frame(comm_b))["data"]["position"] == 2
    # More messages while waiting change nothing: no frame.
    await command(comm_b, "message.create", {"content": "still there?", "echo_id": "b2"})
    await no_queue_frame(comm_b)
    from chat.services.conversations import conversation_set_status

    await db(conversation_set_status)(conversation_id=(await conversation_of(a)).pk, status="resolved")
    assert (await next_queue_frame(comm_a))["data"]["position"] is None
    assert (await next_queue_frame(comm_b))["data"]["position"] == 1
    await comm_a.disconnect()
    await comm_b.disconnect()


async def test_an_assigned_conversation_never_gets_a_position_on_connect(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    await db(message_create)(conversation_id=conversation.pk, direction="incoming", content="hi",
                             sender_contact=world.visitor.contact)
    await db(assign_conversation)(conversation_id=conversation.pk, assignee_id=world.op_a.pk, actor=world.op_a)
    comm, reply = await widget_socket(world.visitor)
    assert reply["data"]["queue"] is None
    await no_queue_frame(comm)
    await comm.disconnect()


# --- SSE and long-poll ---------------------------------------------------------------------------


def _headers(contact_inbox):
    return {"X-Widget-Token": contact_inbox.pubsub_token, "Origin": ORIGIN}


async def _waiting_conversation(contact_inbox) -> Conversation:
    conversation = await db(make_conversation)(contact_inbox=contact_inbox)
    await db(message_create)(conversation_id=conversation.pk, direction="incoming", content="hi",
                             sender_contact=contact_inbox.contact)
    return conversation


async def _refresh_until(done: asyncio.Event, inbox_id: int) -> None:
    """Recompute and resend (forgetting what was sent) until the fallback has a frame: the
    fallback joins its group a moment after the request starts, so we await the frame itself."""
    while not done.is_set():
        await db(get_store().delete)(f"queue:sent:{inbox_id}")
        await db(queue_refresh)(inbox_id=inbox_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=0.05)


async def test_long_poll_carries_queue_updates(world, settings):
    settings.LONGPOLL_WAIT_SECONDS = 10
    conversation = await _waiting_conversation(world.visitor)
    client = AsyncClient()
    position = (await client.get("/api/widget/v1/events", headers=_headers(world.visitor))).json()["last_event_id"]
    waiting = asyncio.ensure_future(client.get(f"/api/widget/v1/events?after={position}", headers=_headers(world.visitor)))
    answered = asyncio.Event()
    waiting.add_done_callback(lambda _: answered.set())
    await asyncio.wait_for(_refresh_until(answered, world.inbox_a.pk), 15)
    body = (await waiting).json()
    frames = [e for e in body["events"] if e["type"] == QUEUE]
    assert frames and frames[0]["data"] == {"conversation_id": conversation.pk, "position": 1,
                                            "expected_wait_seconds": None}
    assert body["last_event_id"] == position  # ephemeral: the cursor does not move


async def test_sse_sends_the_place_on_connect_and_changes_live(world, settings):
    settings.SSE_MAX_SECONDS = 15
    conversation = await _waiting_conversation(world.visitor)
    response = await AsyncClient().get("/api/widget/v1/stream", headers=_headers(world.visitor))
    assert response.status_code == 200
    raw = b""
    seen = asyncio.Event()

    async def read(count: int) -> None:
        nonlocal raw
        async for chunk in response.streaming_content:
            raw += chunk
            if raw.count(b"event: queue.updated") >= count:
                seen.set()
                return

    try:
        await asyncio.wait_for(read(1), 10)  # on connect, without any change
        seen.clear()
        reader = asyncio.ensure_future(read(2))
        await asyncio.wait_for(_refresh_until(seen, world.inbox_a.pk), 15)
        await reader
    finally:
        await response._iterator.aclose()
    blocks = [b for b in raw.decode().split("\n\n") if "event: queue.updated" in b]
    assert all(not any(line.startswith("id:") for line in b.splitlines()) for b in blocks)
    frame = json.loads(blocks[0].split("data: ", 1)[1])
    assert frame["data"]["position"] == 1 and frame["conversation_id"] == conversation.pk


# --- The estimate and the bounded recompute ----------------------------------------------------------


def _waiting_sync(contact_inbox) -> Conversation:
    conversation = make_conversation(contact_inbox=contact_inbox)
    message_create(conversation_id=conversation.pk, direction="incoming", content="hi",
                   sender_contact=contact_inbox.contact)
    return conversation


def test_expected_wait_is_the_recent_median_first_response_times_the_position(world):
    inbox = InboxFactory(enable_auto_assignment=False)

    def answered(created_ago: timedelta, replied_ago: timedelta) -> None:
        conversation = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))
        now = timezone.now()
        Conversation.objects.filter(pk=conversation.pk).update(
            created_at=now - created_ago, first_reply_created_at=now - replied_ago)

    minute = timedelta(seconds=60)
    for seconds in (30, 90, 600):
        answered(minute + timedelta(seconds=seconds), minute)
    answered(timedelta(days=3), timedelta(days=2))  # outside the 24 h window
    assert median_first_response_seconds(inbox_id=inbox.pk) == 90
    first = _waiting_sync(ContactInboxFactory(inbox=inbox))
    second = _waiting_sync(ContactInboxFactory(inbox=inbox))
    assert queue_status(conversation=Conversation.objects.get(pk=first.pk))["expected_wait_seconds"] == 90
    assert queue_status(conversation=Conversation.objects.get(pk=second.pk)) == {
        "conversation_id": second.pk, "position": 2, "expected_wait_seconds": 180}


def test_a_recompute_is_one_query_and_sends_only_what_changed(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat.events import contact_inbox_group
    from tests.controls import controls_sent

    visitors = [ContactInboxFactory(inbox=world.inbox_a) for _ in range(3)]
    for visitor in visitors:
        _waiting_sync(visitor)

    def recompute() -> int:
        with CaptureQueriesContext(connection) as queries:
            queue_refresh(inbox_id=world.inbox_a.pk)
        return len(queries.captured_queries)

    groups = [contact_inbox_group(v.pk) for v in visitors]
    get_store().delete(f"queue:sent:{world.inbox_a.pk}")
    _count, sent = controls_sent(groups, recompute)
    assert sorted(m["frame"]["data"]["position"] for _g, m in sent) == [1, 2, 3]
    queries, sent = controls_sent(groups, recompute)
    assert sent == []  # nothing moved: nothing sent
    assert queries == 1  # the positions (the estimate is cached)


@pytest.mark.postgres
def test_concurrent_changes_leave_the_last_sent_positions_equal_to_the_queue(world):
    """Recomputes of one inbox are serialized (a change during one marks the inbox dirty and it
    goes again): after any interleaving, what was last sent equals the committed queue."""
    from chat.models import InboxMember
    from tests.concurrency import run_concurrently
    from tests.factories import UserFactory

    operators = [UserFactory() for _ in range(4)]
    for operator in operators:
        InboxMember.objects.create(inbox=world.inbox_a, user=operator)
    for _round in range(3):
        conversations = [_waiting_sync(ContactInboxFactory(inbox=world.inbox_a)) for _ in range(8)]
        queue_refresh(inbox_id=world.inbox_a.pk)
        chosen = conversations[1::2]  # four of them are taken at once, by four operators
        results = run_concurrently(lambda i, chosen=chosen: assign_conversation(
            conversation_id=chosen[i].pk, assignee_id=operators[i].pk, actor=operators[i]), 4)
        assert not [r for r in results if isinstance(r, Exception)], results
        waiting = list(Conversation.objects.filter(
            inbox=world.inbox_a, status="open", assignee__isnull=True, waiting_since__isnull=False,
        ).order_by("waiting_since", "id").values_list("id", flat=True))
        sent = json.loads(get_store().get(f"queue:sent:{world.inbox_a.pk}") or "{}")
        assert {int(k): v[0] for k, v in sent.items()} == {cid: n + 1 for n, cid in enumerate(waiting)}
        Conversation.objects.filter(inbox=world.inbox_a).update(status="resolved")
        queue_refresh(inbox_id=world.inbox_a.pk)
