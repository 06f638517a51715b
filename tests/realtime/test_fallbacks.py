"""SSE and long-poll: the same events and ids as the socket, resume by id, auth, limits."""
from __future__ import annotations

import json

import pytest
from django.test import AsyncClient

from chat.models import Contact, Inbox
from tests.factories import make_conversation
from tests.realtime.conftest import ORIGIN, db, receive_until, widget_socket
from tests.realtime.test_resume import note

pytestmark = pytest.mark.django_db(transaction=True)


def parse_sse(raw: bytes) -> list[dict]:
    events = []
    for block in raw.decode().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.startswith(":") or ": " not in line:
                continue
            key, value = line.split(": ", 1)
            fields[key] = value
        if "data" in fields:
            frame = json.loads(fields["data"])
            assert int(fields["id"]) == frame["id"] and fields["event"] == frame["type"]
            events.append(frame)
    return events


async def sse_read(client, path, *, headers, until_ids: int | None = None) -> tuple[int, bytes, object]:
    response = await client.get(path, headers=headers)
    if response.status_code != 200:
        return response.status_code, response.content, response
    raw = b""
    async for chunk in response.streaming_content:
        raw += chunk
        if until_ids is not None and len(parse_sse(raw)) >= until_ids:
            break
    return 200, raw, response


def headers_for(contact_inbox, **extra):
    return {"X-Widget-Token": contact_inbox.pubsub_token, "Origin": ORIGIN, **extra}


async def test_long_poll_answers_at_once_with_pending_events_then_waits_for_new_ones(world, settings):
    settings.LONGPOLL_WAIT_SECONDS = 5
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    client = AsyncClient()
    start = await client.get("/api/widget/v1/events", headers=headers_for(world.visitor))
    assert start.status_code == 200 and start.json()["events"] == []
    position = start.json()["last_event_id"]
    first = await db(note)(conversation, "one")
    hidden = await db(note)(conversation, "operators", audience="operators")
    response = await client.get(f"/api/widget/v1/events?after={position}", headers=headers_for(world.visitor))
    body = response.json()
    assert [e["id"] for e in body["events"]] == [first] and hidden not in [e["id"] for e in body["events"]]
    assert body["last_event_id"] >= first
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    # Nothing pending: the request waits; an event committed meanwhile answers it.
    import asyncio

    waiting = asyncio.ensure_future(client.get(f"/api/widget/v1/events?after={body['last_event_id']}",
                                               headers=headers_for(world.visitor)))
    from chat.realtime.hub import get_hub
    from tests.realtime.conftest import eventually

    await eventually(lambda: len(get_hub()) > 0)
    second = await db(note)(conversation, "two")
    response = await asyncio.wait_for(waiting, 10)
    assert [e["id"] for e in response.json()["events"]] == [second]


async def test_long_poll_times_out_empty(world, settings):
    settings.LONGPOLL_WAIT_SECONDS = 0.1
    client = AsyncClient()
    start = (await client.get("/api/widget/v1/events", headers=headers_for(world.visitor))).json()
    response = await client.get(f"/api/widget/v1/events?after={start['last_event_id']}", headers=headers_for(world.visitor))
    assert response.status_code == 200
    assert response.json() == {"events": [], "last_event_id": start["last_event_id"]}


async def test_fallbacks_refuse_bad_tokens_blocked_contacts_foreign_origins_and_bad_input(world):
    client = AsyncClient()
    for path in ("/api/widget/v1/events", "/api/widget/v1/stream"):
        response = await client.get(path, headers={"X-Widget-Token": "forged"})
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
        response = await client.get(path)
        assert response.status_code == 401
        response = await client.get(path, headers={**headers_for(world.visitor), "Origin": "https://evil.example"})
        assert response.status_code == 403
    response = await client.get("/api/widget/v1/events?after=x", headers=headers_for(world.visitor))
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_data"
    await db(lambda: Contact.objects.filter(pk=world.visitor.contact_id).update(blocked=True))()
    response = await client.get("/api/widget/v1/events", headers=headers_for(world.visitor))
    assert response.status_code == 403 and response.json()["error"]["code"] == "contact_blocked"


async def test_long_poll_resync_required(world, settings):
    settings.STREAM_RESUME_MAX_EVENTS = 1
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    start = await db(note)(conversation, "start")
    await db(note)(conversation, "a")
    await db(note)(conversation, "b")
    response = await AsyncClient().get(f"/api/widget/v1/events?after={start}", headers=headers_for(world.visitor))
    assert response.status_code == 409 and response.json()["error"]["code"] == "resync_required"


async def test_sse_socket_and_long_poll_deliver_the_same_sequence(world, settings):
    settings.SSE_MAX_SECONDS = 30
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    widget, auth = await widget_socket(world.visitor)
    start = auth["data"]["last_event_id"]
    await db(note)(conversation, "hidden", audience="operators")
    sent = [await db(note)(conversation, f"n{i}") for i in range(3)]
    await db(lambda: Inbox.objects.filter(pk=world.inbox_a.pk).update(name="x"))()
    _, socket_frames = await receive_until(widget, lambda f: False if f.get("id") != sent[-1] else True)
    socket_seq = [(f["id"], f["type"]) for f in socket_frames if "id" in f] + [(sent[-1], "message.updated")]
    client = AsyncClient()
    status, raw, _ = await sse_read(client, "/api/widget/v1/stream", headers=headers_for(world.visitor, **{"Last-Event-ID": str(start)}),
                                    until_ids=len(socket_seq))
    assert status == 200
    sse_seq = [(f["id"], f["type"]) for f in parse_sse(raw)]
    poll = (await client.get(f"/api/widget/v1/events?after={start}", headers=headers_for(world.visitor))).json()
    poll_seq = [(e["id"], e["type"]) for e in poll["events"]]
    assert socket_seq == sse_seq == poll_seq
    assert [i for i, _ in socket_seq] == sent
    await widget.disconnect()


async def test_sse_token_in_query_keepalive_and_end(world, settings):
    settings.SSE_KEEPALIVE_SECONDS = 0.05
    settings.SSE_MAX_SECONDS = 0.2
    client = AsyncClient()
    response = await client.get(f"/api/widget/v1/stream?token={world.visitor.pubsub_token}")
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    raw = b"".join([chunk async for chunk in response.streaming_content])  # the server ends it
    assert b": keep-alive\n\n" in raw and raw.startswith(b"retry: ")


async def test_streams_per_token_are_bounded(world, settings):
    settings.WIDGET_STREAMS_PER_TOKEN = 1
    settings.SSE_MAX_SECONDS = 0.3
    client = AsyncClient()
    first = await client.get("/api/widget/v1/stream", headers=headers_for(world.visitor))
    iterator = first.streaming_content.__aiter__()
    await iterator.__anext__()  # the stream is open
    second = await client.get("/api/widget/v1/stream", headers=headers_for(world.visitor))
    assert second.status_code == 429 and second.json()["error"]["code"] == "rate_limited"
    async for _ in iterator:  # the server ends the stream; its slot is released
        pass
    third = await client.get("/api/widget/v1/events", headers=headers_for(world.visitor))
    assert third.status_code == 200


async def _typing_until(done, conversation, operator) -> None:
    """Operator typing, sent again until ``done`` (an asyncio.Event) is set: the fallback
    subscribes to typing a moment after its request starts, so we await the frame itself."""
    import asyncio
    import contextlib

    from chat.services.typing import typing_set

    while not done.is_set():
        await db(typing_set)(conversation_id=conversation.pk, typing=True, side="agent",
                             user={"id": operator.pk, "name": "Op"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=0.05)


async def test_long_poll_carries_operator_typing_without_moving_the_cursor(world, settings):
    import asyncio

    settings.LONGPOLL_WAIT_SECONDS = 10
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    client = AsyncClient()
    position = (await client.get("/api/widget/v1/events", headers=headers_for(world.visitor))).json()["last_event_id"]
    waiting = asyncio.ensure_future(client.get(f"/api/widget/v1/events?after={position}", headers=headers_for(world.visitor)))
    answered = asyncio.Event()
    waiting.add_done_callback(lambda _: answered.set())
    await asyncio.wait_for(_typing_until(answered, conversation, world.op_a), 15)
    body = (await waiting).json()
    typing = [e for e in body["events"] if e["type"] == "conversation.typing_started"]
    assert typing and typing[0]["conversation_id"] == conversation.pk and "id" not in typing[0]
    assert typing[0]["data"]["side"] == "agent"
    assert body["last_event_id"] == position


async def test_sse_carries_operator_typing_as_an_event_without_id(world, settings):
    import asyncio

    settings.SSE_MAX_SECONDS = 15
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    response = await AsyncClient().get("/api/widget/v1/stream", headers=headers_for(world.visitor))
    assert response.status_code == 200
    raw = b""
    found = asyncio.Event()

    async def read() -> None:
        nonlocal raw
        async for chunk in response.streaming_content:
            raw += chunk
            if b"event: conversation.typing_started" in raw:
                found.set()
                return

    reader = asyncio.ensure_future(read())
    try:
        await asyncio.wait_for(_typing_until(found, conversation, world.op_a), 15)
        await reader
    finally:
        reader.cancel()
        # End the server's stream generator here, on this loop (its cleanup leaves the hub and
        # the typing group), not in the loop's teardown.
        await response._iterator.aclose()
    block = next(b for b in raw.decode().split("\n\n") if "conversation.typing_started" in b)
    assert not any(line.startswith("id:") for line in block.splitlines())
    frame = json.loads(block.split("data: ", 1)[1])
    assert frame["conversation_id"] == conversation.pk and frame["data"]["side"] == "agent"


async def test_an_sse_response_ends_after_its_byte_budget_and_resumes_from_there(world, settings):
    """The server buffers whatever a stream yields, read or not: one response carries about
    WS_SEND_BUFFER_MAX_BYTES, then the client reconnects with Last-Event-ID and misses nothing."""
    settings.SSE_MAX_SECONDS = 60
    settings.WS_SEND_BUFFER_MAX_BYTES = 2000
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    client = AsyncClient()
    response = await client.get("/api/widget/v1/stream", headers=headers_for(world.visitor))
    chunks = response.streaming_content.__aiter__()
    assert (await chunks.__anext__()).startswith(b"retry: ")
    ids, received = [], []
    with pytest.raises(StopAsyncIteration):  # the response ends by itself, long before SSE_MAX_SECONDS
        for n in range(10):
            ids.append(await db(note)(conversation, f"{n} " + "x" * 500))
            while received[-1:] != ids[-1:]:
                received += [f["id"] for f in parse_sse(await chunks.__anext__())]
    assert 3 <= len(received) <= 4 and received == ids[: len(received)]
    rest = len(ids) - len(received)
    status, raw, _ = await sse_read(client, "/api/widget/v1/stream", until_ids=rest,
                                    headers=headers_for(world.visitor, **{"Last-Event-ID": str(received[-1])}))
    assert status == 200 and received + [f["id"] for f in parse_sse(raw)] == ids
