"""Operations on live server processes (DESIGN.md §13, issue 12 points 4 and 5): the graceful
SIGTERM under daphne and uvicorn, /readyz through a cut path to PostgreSQL, JSON log lines
printed once with their request id."""
from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect as ws_connect

from tests import live
from tests.faults import postgres_path_for
from tests.live import Client, LiveServer, close_code, operator, server_env, start_server, widget, ws_url
from tests.realtime.conftest import ORIGIN

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
]


async def wait_for(condition: Any, *, timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``condition()`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def lock_waiters(table: str) -> int:
    """Backends of the test database waiting for a lock on ``table``."""
    with psycopg.connect(live.test_database_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass", (table,)
        ).fetchone()
        return int(row[0]) if row else 0


@pytest.fixture(params=["daphne", "uvicorn"])
def server_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "uvicorn":
        monkeypatch.setenv("LIVE_SERVER", "uvicorn")
    else:
        monkeypatch.delenv("LIVE_SERVER", raising=False)
    return request.param


async def test_sigterm_finishes_in_flight_commands_then_closes_sockets_4503(world, server_kind: str) -> None:
    server = start_server(env=server_env(SHUTDOWN_GRACE_SECONDS="10"))
    locker = None
    try:
        op = await operator(server.url, world.op_a)
        visitor, _ = await widget(server.url, world.visitor)
        # Hold the message table: the visitor's next message waits for it inside the server.
        locker = psycopg.connect(live.test_database_url())
        locker.execute("LOCK TABLE chat_message IN ACCESS EXCLUSIVE MODE")
        await visitor.ws.send(json.dumps({"type": "message.create", "ref": "in-flight", "data": {"content": "bye"}}))
        await wait_for(lambda: lock_waiters("chat_message") > 0, what="the command to wait on the lock")

        server.process.send_signal(signal.SIGTERM)
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
            async def draining() -> bool:
                response = await http.get("/readyz")
                return response.status_code == 503 and response.json().get("server") == "shutting_down"

            await wait_for(draining, what="/readyz to report shutting_down")
        # New sockets are turned away at once with "retry elsewhere".
        late = Client(await ws_connect(ws_url(server.url, "/ws/widget/"), origin=ORIGIN))
        assert await close_code(late) == 4503
        assert server.process.poll() is None  # still waiting for the command in flight

        started = time.monotonic()
        locker.rollback()  # the command goes on
        locker.close()
        locker = None
        reply, _ = await visitor.until(lambda f: f.get("type") == "reply" and f.get("ref") == "in-flight")
        assert reply["ok"], reply
        assert await close_code(visitor) == 4503
        assert await close_code(op) == 4503
        server.process.wait(timeout=15)
        assert time.monotonic() - started < 15
    finally:
        if locker is not None:
            locker.close()
        server.stop()


async def test_sigterm_with_no_sockets_exits_promptly(server_kind: str, django_db_setup) -> None:
    server = start_server()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:  # the app has been called
            assert (await http.get("/healthz")).status_code == 200
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=10)
        assert time.monotonic() - started < 10
    finally:
        server.stop()


@pytest.fixture
def cut_server(django_db_setup) -> Iterator[tuple[LiveServer, Any]]:
    with postgres_path_for(live.test_database_url()) as path:
        server = start_server(env=server_env(DATABASE_URL=path.database_url(live.test_database_url())))
        try:
            yield server, path
        finally:
            server.stop()


async def test_readyz_names_the_database_when_its_path_is_cut(cut_server) -> None:
    server, path = cut_server
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"database": "ok", "redis": "ok"}
        path.cut()
        started = time.monotonic()
        down = await http.get("/readyz")
        assert time.monotonic() - started < 4.0
        assert down.status_code == 503 and down.json() == {"database": "unavailable", "redis": "ok"}
        assert (await http.get("/healthz")).status_code == 200  # alive, just not ready
        path.restore()

        async def ready_again() -> bool:
            return (await http.get("/readyz")).status_code == 200

        await wait_for(ready_again, timeout=20, what="/readyz to recover")


async def test_json_log_lines_are_printed_once_with_the_request_id(django_db_setup) -> None:
    # DEBUG on is where Django's own console handler used to print every django.* line again.
    server = start_server(env=server_env(LOG_FORMAT="json", DEBUG="true"))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
            response = await http.get("/no-such-page-4242", headers={"X-Request-ID": "trace-4242"})
        assert response.status_code == 404 and response.headers["X-Request-ID"] == "trace-4242"
        mentions = [line for line in server.log_text().splitlines() if "Not Found: /no-such-page-4242" in line]
        assert len(mentions) == 1, mentions
        record = json.loads(mentions[0])
        assert record["request_id"] == "trace-4242"
        assert record["level"] == "WARNING" and record["logger"] == "django.request"
        assert record["message"] == "Not Found: /no-such-page-4242"
        assert record["timestamp"].startswith("20")
    finally:
        server.stop()
