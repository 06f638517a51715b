"""A socket that does not read is closed with 4429 once it holds more than
WS_SEND_BUFFER_MAX_BYTES, under daphne and under uvicorn, and the server's memory stays bounded
(docs/realtime.md, "Slow subscribers"; chat/realtime/outbound.py says what is counted)."""
from __future__ import annotations

import json
import socket

import psutil
import pytest
from django.db import transaction
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from chat.events import EventType, dispatch
from chat.realtime.codes import CloseCode
from tests.live import TIMEOUT, Client, operator, server_env, start_server, ws_url
from tests.payloads import message_stub
from tests.realtime.conftest import db, token_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
]

EVENT_BYTES = 8000
EVENTS = 3000  # about 24 MB for each operator socket of the inbox
BUFFER = 1024 * 1024


BATCH = 40  # events per transaction: about 320 KB, well within a healthy socket's bound


def produce(inbox_id: int, *, first: int, count: int, size: int) -> int:
    """``count`` events of about ``size`` bytes in the inbox, in one transaction; the last id."""
    with transaction.atomic():
        for n in range(first, first + count):
            last = dispatch(EventType.MESSAGE_UPDATED, payload=message_stub(f"{n:06d}" + "x" * size),
                            inbox_id=inbox_id).id
    return last


async def silent_operator(base: str, user) -> Client:
    """An operator socket whose client stops reading once joined: a small receive buffer, and
    the client library stops taking bytes from the kernel after two frames."""
    key = await db(token_for)(user)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    port = int(base.rsplit(":", 1)[1])
    sock.connect(("127.0.0.1", port))
    # No compression: the payloads compress to almost nothing, and would fit in kernel buffers.
    ws = await ws_connect(ws_url(base, "/ws/operator/"), sock=sock, max_queue=2, compression=None,
                          additional_headers={"Authorization": f"Token {key}"})
    client = Client(ws)
    reply, _ = await client.command("ping", ref="hello")
    assert reply["ok"]
    return client


@pytest.mark.parametrize("server_kind", ["daphne", "uvicorn"])
async def test_a_socket_that_does_not_read_is_closed_4429_and_memory_stays_bounded(
        server_kind, world, monkeypatch):
    monkeypatch.setenv("LIVE_SERVER", server_kind)
    # Only the byte bound can close it: the frame bound is far away. The server waits for the
    # client to take what it already holds before the close (at most WS_SLOW_CLOSE_SECONDS):
    # long here, since producing 24 MB can take a while on a loaded machine and the client
    # only starts reading after that; the close follows its reading, not the window.
    server = start_server(env=server_env(WS_SEND_BUFFER_MAX_BYTES=str(BUFFER), WS_SEND_QUEUE_MAX="100000",
                                         WS_SLOW_CLOSE_SECONDS="240", WS_IDLE_TIMEOUT_SECONDS="600"))
    try:
        process = psutil.Process(server.process.pid)
        slow = await silent_operator(server.url, world.op_a)
        healthy = await operator(server.url, world.op_a)
        rss_before = process.memory_info().rss

        # The healthy socket reads each batch before the next is written (it must not fall a
        # megabyte behind itself); once it has the last event, the hub has fanned every event
        # out to the silent one too.
        seen = 0
        for first in range(0, EVENTS, BATCH):
            last = await db(produce)(world.inbox_a.pk, first=first, count=BATCH, size=EVENT_BYTES)
            while seen < last:
                frame = await healthy.recv(TIMEOUT)
                seen = max(seen, frame.get("id") or 0)
        grown = process.memory_info().rss - rss_before
        # 24 MB were addressed to the silent socket; it may hold about BUFFER of them.
        assert grown < 12 * 1024 * 1024, f"RSS grew by {grown / 2**20:.1f} MiB"

        # It reads again: what the server already held, then the close, 4429.
        ids = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frame = json.loads(await slow.ws.recv())
                if "id" in frame:
                    ids.append(frame["id"])
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.TOO_SLOW
        assert ids == sorted(set(ids)) and len(ids) < EVENTS
        await healthy.close()
    finally:
        server.stop()
