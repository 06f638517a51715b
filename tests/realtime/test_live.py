"""Live tests: two real daphne processes sharing PostgreSQL and Redis, real WebSocket clients.

One pair of servers serves the whole session (they use the test database pytest-django
created). Test data is written by this process through the services, like an admin or a
worker would; the servers learn about it from the outbox and the pokes on Redis.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect

from chat.events import EventType
from chat.models import Audience, Event, Inbox
from tests.concurrency import HeldTransaction
from tests.factories import make_conversation
from tests.live import TIMEOUT, Client, close_code, live_servers, operator, widget, ws_url
from tests.payloads import message_stub
from tests.realtime.conftest import ORIGIN, SKIPPED_TYPES, db
from tests.realtime.test_resume import note

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
]

@pytest.fixture(scope="session")
def servers(django_db_setup, django_db_blocker) -> Iterator[list[str]]:
    """Two server processes on the test database; their base URLs (http://127.0.0.1:port)."""
    with live_servers(2) as running:
        yield [server.url for server in running]


def visible_to_operator_after(inbox_id: int, after: int) -> list[int]:
    return list(Event.objects.filter(inbox_id=inbox_id, user_id__isnull=True, id__gt=after)
                .exclude(type__in=SKIPPED_TYPES).order_by("id").values_list("id", flat=True))


# --- Tests --------------------------------------------------------------------------------------


async def test_visitor_message_reaches_an_operator_on_another_process(servers, world):
    op = await operator(servers[0], world.op_a)
    visitor, _ = await widget(servers[1], world.visitor)
    reply, _ = await visitor.command("message.create", {"content": "across processes", "echo_id": "x1"})
    assert reply["ok"]
    frame, _ = await op.until(lambda f: f["type"] == "message.created")
    assert frame["data"]["content"] == "across processes" and frame["data"]["id"] == reply["data"]["id"]
    await op.close()
    await visitor.close()


async def test_killed_socket_resumes_with_exactly_the_missing_events(servers, world):
    op = await operator(servers[0], world.op_a)
    visitor, _ = await widget(servers[1], world.visitor)
    await visitor.command("message.create", {"content": "first"}, ref=1)
    frame, _ = await op.until(lambda f: f["type"] == "message.created")
    last_seen = frame["id"]
    op.ws.transport.abort()  # killed mid-stream, no close handshake
    for i in range(5):
        reply, _ = await visitor.command("message.create", {"content": f"while away {i}"}, ref=f"m{i}")
        assert reply["ok"]
    op = await operator(servers[1], world.op_a)  # back, on the other process
    reply, replayed = await op.command("resume", {"last_event_id": last_seen}, ref="resume")
    assert reply["ok"], reply
    expected = await db(visible_to_operator_after)(world.inbox_a.pk, last_seen)
    # Live frames for the operator that arrived before the resume are counted too: a socket
    # gets each id once, from the replay or live.
    ids = [f["id"] for f in replayed if "id" in f and f["type"] not in SKIPPED_TYPES]
    assert ids == expected and len(ids) == len(set(ids))
    assert len([f for f in replayed if f.get("type") == "message.created"]) == 5
    assert reply["data"]["replayed"] >= len(ids)  # plus presence updates, skipped above
    await op.close()
    await visitor.close()


async def test_late_committing_event_is_not_lost(servers, world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await operator(servers[0], world.op_a)

    late = HeldTransaction(EventType.MESSAGE_UPDATED, payload=message_stub("a"), inbox_id=conversation.inbox_id,
                           conversation_id=conversation.pk, contact_inbox_id=conversation.contact_inbox_id,
                           audience=Audience.EVERYONE)
    ids: dict[str, int] = {"a": await asyncio.to_thread(late.start)}
    try:
        ids["b"] = await db(note)(conversation, "b")  # commits first, and pokes both servers
        # While A is open nothing after it may be sent (without the rule, B would be).
        with pytest.raises(TimeoutError):
            await op.recv(timeout=1.0)
    finally:
        await asyncio.to_thread(late.commit)
    first, second = await op.recv(), await op.recv()
    assert [first["id"], second["id"]] == [ids["a"], ids["b"]]
    await op.close()
    op = await operator(servers[1], world.op_a)
    _, replayed = await op.command("resume", {"last_event_id": ids["a"] - 1}, ref="resume")
    assert [f["id"] for f in replayed if "id" in f] == [ids["a"], ids["b"]]
    await op.close()


async def test_sse_and_long_poll_deliver_the_same_sequence_as_the_socket(servers, world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    visitor, auth = await widget(servers[0], world.visitor)
    start = auth["data"]["last_event_id"]
    await db(note)(conversation, "operators only", audience=Audience.OPERATORS)
    sent = [await db(note)(conversation, f"n{i}") for i in range(4)]
    _, frames = await visitor.until(lambda f: f.get("id") == sent[-1])
    socket_seq = [(f["id"], f["type"]) for f in frames if "id" in f] + [(sent[-1], "message.updated")]
    headers = {"X-Widget-Token": world.visitor.pubsub_token, "Origin": ORIGIN}
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        poll = (await http.get(f"{servers[1]}/api/widget/v1/events", params={"after": start}, headers=headers)).json()
        poll_seq = [(e["id"], e["type"]) for e in poll["events"]]
        sse_seq = []
        async with http.stream("GET", f"{servers[1]}/api/widget/v1/stream",
                               headers={**headers, "Last-Event-ID": str(start)}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            current: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line.startswith(("id: ", "event: ")):
                    key, value = line.split(": ", 1)
                    current[key] = value
                elif line.startswith("data: "):
                    frame = json.loads(line[6:])
                    assert current == {"id": str(frame["id"]), "event": frame["type"]}
                    sse_seq.append((frame["id"], frame["type"]))
                    current = {}
                    if len(sse_seq) == len(socket_seq):
                        break
    assert socket_seq == poll_seq == sse_seq
    assert [i for i, _ in socket_seq] == sent
    await visitor.close()


async def test_widget_never_sees_a_private_note(servers, world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    visitor, _ = await widget(servers[1], world.visitor)
    op = await operator(servers[0], world.op_a)
    await op.command("message.create", {"conversation_id": conversation.pk, "content": "note", "private": True}, ref=1)
    await op.command("message.create", {"conversation_id": conversation.pk, "content": "public"}, ref=2)
    frame, before = await visitor.until(lambda f: f["type"] == "message.created")
    assert frame["data"]["content"] == "public"
    assert not [f for f in before if f.get("type") == "message.created"]
    await op.close()
    await visitor.close()


async def test_forged_or_other_visitors_token_is_refused(servers, world):
    ws = await ws_connect(ws_url(servers[0], "/ws/widget/"), origin=ORIGIN)
    await ws.send(json.dumps({"type": "auth", "data": {"pubsub_token": "forged-" + world.visitor.pubsub_token}}))
    assert await close_code(Client(ws)) == 4401
    # Visitor B belongs to another inbox, which does not allow this site.
    await db(lambda: Inbox.objects.filter(pk=world.inbox_b.pk).update(allowed_origins=["https://other.example"]))()
    ws = await ws_connect(ws_url(servers[1], "/ws/widget/"), origin=ORIGIN)
    await ws.send(json.dumps({"type": "auth", "data": {"pubsub_token": world.visitor_b.pubsub_token}}))
    assert await close_code(Client(ws)) == 4403
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.get(f"{servers[0]}/api/widget/v1/events", headers={"X-Widget-Token": "forged"})
        assert response.status_code == 401


async def test_operator_of_inbox_a_gets_nothing_from_inbox_b(servers, world):
    op_a = await operator(servers[0], world.op_a)
    visitor_b, _ = await widget(servers[1], world.visitor_b)
    visitor_a, _ = await widget(servers[1], world.visitor)
    await visitor_b.command("message.create", {"content": "B only"}, ref=1)
    await visitor_a.command("message.create", {"content": "A"}, ref=2)
    frame, before = await op_a.until(lambda f: f["type"] == "message.created")
    assert frame["data"]["content"] == "A"
    assert all(f.get("type") in ("conversation.created", "presence.updated") for f in before)
    for client in (op_a, visitor_a, visitor_b):
        await client.close()


async def test_dropped_poke_still_arrives_through_the_poll(servers, world, monkeypatch):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await operator(servers[1], world.op_a)
    monkeypatch.setattr("chat.events.poke_stream", lambda: None)
    quiet = await db(note)(conversation, "no poke")
    frame, _ = await op.until(lambda f: f.get("id") == quiet)
    assert frame["type"] == "message.updated"
    await op.close()
