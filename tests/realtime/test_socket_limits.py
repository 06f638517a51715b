"""At most N sockets per operator and per widget token, and N SSE / long-poll streams per widget
token, counted across processes (chat/realtime/limits.py); the extra one closes 4429 (429 for a
stream) with a reason, and a crashed process's sockets stop counting."""
from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from chat.realtime.codes import CloseCode
from tests.live import TIMEOUT, live_servers, ws_url
from tests.realtime.conftest import (
    ORIGIN,
    application,
    command,
    db,
    operator_socket,
    token_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def test_concurrent_operator_sockets_beyond_the_cap_close_4429(world, settings):
    settings.WS_MAX_SOCKETS_PER_OPERATOR = 3
    sockets = await asyncio.gather(*(operator_socket(world.op_a) for _ in range(8)))

    async def outcome(comm) -> str:
        await comm.send_to(text_data=json.dumps({"type": "ping", "ref": "p"}))
        while True:
            message = await comm.receive_output(timeout=TIMEOUT)
            if message["type"] == "websocket.close":
                assert message.get("reason", "").startswith("Too many open sockets for this operator")
                return f"closed {message['code']}"
            frame = json.loads(message["text"])
            if frame.get("type") == "reply":
                return "open"

    outcomes = await asyncio.gather(*(outcome(comm) for comm in sockets))
    assert sorted(outcomes) == ["closed 4429"] * 5 + ["open"] * 3
    # Another operator is not affected, and a closed socket frees its place.
    other = await operator_socket(world.op_b)
    assert (await command(other, "ping", ref="x"))["ok"]
    opened = [comm for comm, result in zip(sockets, outcomes, strict=True) if result == "open"]
    await opened[0].disconnect()
    again = await operator_socket(world.op_a)
    assert (await command(again, "ping", ref="y"))["ok"]
    for comm in [*(c for c in sockets if c is not opened[0]), other, again]:  # refused ones too: their apps end
        await comm.disconnect()


async def test_widget_sockets_beyond_the_cap_close_4429_after_auth(world, settings):
    from channels.testing import WebsocketCommunicator

    settings.WS_MAX_SOCKETS_PER_VISITOR = 2

    async def auth():
        comm = WebsocketCommunicator(application(), "/ws/widget/", headers=[(b"origin", ORIGIN.encode())])
        assert (await comm.connect(timeout=TIMEOUT))[0]
        await comm.send_to(text_data=json.dumps({"type": "auth", "ref": "a",
                                                 "data": {"pubsub_token": world.visitor.pubsub_token}}))
        message = await comm.receive_output(timeout=TIMEOUT)
        if message["type"] == "websocket.close":
            return comm, message["code"]
        while json.loads(message["text"]).get("type") != "reply":
            message = await comm.receive_output(timeout=TIMEOUT)
        return comm, "open"

    results = await asyncio.gather(*(auth() for _ in range(5)))
    assert sorted(str(code) for _, code in results) == ["4429"] * 3 + ["open"] * 2
    for comm, _code in results:
        await comm.disconnect()


# --- Across processes (live servers on PostgreSQL and Redis) --------------------------------------


async def _live_operator(base: str, key: str) -> tuple[object, int | str]:
    """Connect, ping: ("open") or the close code."""
    ws = await ws_connect(ws_url(base, "/ws/operator/"), additional_headers={"Authorization": f"Token {key}"})
    try:
        await ws.send(json.dumps({"type": "ping", "ref": "p"}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            if frame.get("type") == "reply":
                return ws, "open"
    except ConnectionClosed as exc:
        return ws, exc.rcvd.code if exc.rcvd else 1006


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.live
async def test_caps_hold_across_two_processes(world):
    key = await db(token_for)(world.op_a)
    token = world.visitor.pubsub_token
    with live_servers(2, WS_MAX_SOCKETS_PER_OPERATOR="3", WIDGET_STREAMS_PER_TOKEN="1") as servers:
        bases = [s.url for s in servers]
        results = await asyncio.gather(*(_live_operator(bases[i % 2], key) for i in range(8)))
        assert sorted(str(code) for _, code in results) == ["4429"] * 5 + ["open"] * 3
        # One SSE stream per token, whichever process serves the next request.
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            headers = {"X-Widget-Token": token, "Origin": ORIGIN}
            async with client.stream("GET", f"{bases[0]}/api/widget/v1/stream", headers=headers) as stream:
                assert stream.status_code == 200
                chunks = stream.aiter_raw()  # kept: an abandoned iterator would close the stream
                await chunks.__anext__()  # open, holding its lease
                refused = await client.get(f"{bases[1]}/api/widget/v1/events", headers=headers)
                assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
                await chunks.aclose()
        for ws, _ in results:
            await ws.close()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.live
async def test_a_crashed_processes_sockets_stop_counting(world):
    key = await db(token_for)(world.op_a)
    # Leases last twice the idle timeout: 4 s here.
    with live_servers(2, WS_MAX_SOCKETS_PER_OPERATOR="2", WS_IDLE_TIMEOUT_SECONDS="2") as servers:
        first = [await _live_operator(servers[0].url, key) for _ in range(2)]
        assert [code for _, code in first] == ["open", "open"]
        servers[0].process.kill()  # kill -9: no close, no lease released
        servers[0].process.wait()
        ws, code = await _live_operator(servers[1].url, key)
        assert code == CloseCode.TOO_MANY_SOCKETS  # still counted: their leases have not ended
        deadline = time.monotonic() + 15
        while code != "open":
            assert time.monotonic() < deadline, "the dead process's sockets still count"
            await asyncio.sleep(0.25)  # the leases end on Redis's side; nothing to wait on here
            ws, code = await _live_operator(servers[1].url, key)
        await ws.close()
