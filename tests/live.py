"""Real server processes for live tests: daphne (or uvicorn) on loopback, on the test database.

``start_servers(n, **env)`` starts ``n`` processes of this checkout against the database
pytest-django created and the configured Redis, with a small connection pool each (the suite
must stay well under PostgreSQL's 100 connections), and stops them when the block ends. The
``Client`` helpers speak the wire protocol over the ``websockets`` client.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.realtime.conftest import ORIGIN, SKIPPED_TYPES, db, token_for

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 10.0
# Connections each live server process may open (pool max size).
LIVE_DB_POOL_MAX_SIZE = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, log: Path, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        try:  # not listening yet: wait for the process to exit, briefly, before trying again
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
    raise RuntimeError(f"server did not listen on {port}: {log.read_text()[-2000:]}")


def test_database_url() -> str:
    """The URL of the database pytest-django created (the live servers share it)."""
    db_settings = connection.settings_dict
    credentials = quote(db_settings["USER"] or "", safe="") + (
        f":{quote(db_settings['PASSWORD'], safe='')}" if db_settings["PASSWORD"] else ""
    )
    return (f"postgres://{credentials}@{db_settings['HOST'] or '127.0.0.1'}:{db_settings['PORT'] or 5432}"
            f"/{db_settings['NAME']}")


def stop_process(process: subprocess.Popen, *, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``; reaped either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@dataclass
class LiveServer:
    url: str
    port: int
    process: subprocess.Popen
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, *, timeout: float = 10.0) -> None:
        stop_process(self.process, timeout=timeout)


def server_env(**overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL or "",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "live-test-secret"),
        "STREAM_POLL_SECONDS": "0.2",
        "DB_POOL_MAX_SIZE": str(LIVE_DB_POOL_MAX_SIZE),
        "PYTHONPATH": str(ROOT),
    }
    env.update(overrides)
    return env


def start_server(*, env: dict[str, str] | None = None, port: int | None = None) -> LiveServer:
    """One server process (daphne; uvicorn with LIVE_SERVER=uvicorn), listening when this returns."""
    env = env if env is not None else server_env()
    port = port or free_port()
    log = Path(tempfile.mkdtemp(prefix="live-server-")) / "server.log"
    if os.environ.get("LIVE_SERVER") == "uvicorn":  # the same suite against uvicorn
        cmd = [sys.executable, "-m", "uvicorn", "project.asgi:application", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning"]
    else:
        cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"]
    with log.open("wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = LiveServer(url=f"http://127.0.0.1:{port}", port=port, process=proc, log=log, env=env)
    try:
        wait_listening(port, proc, log)
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def live_servers(count: int, **overrides: str) -> Iterator[list[LiveServer]]:
    """``count`` server processes sharing the test database and Redis; stopped afterwards."""
    env = server_env(**overrides)
    servers: list[LiveServer] = []
    try:
        for _ in range(count):
            servers.append(start_server(env=env))
        yield servers
    finally:
        for server in servers:
            server.stop()


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


class Client:
    """A WebSocket client that keeps what it received."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame, presence updates aside (see tests/realtime/conftest.py)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.01, deadline - time.monotonic())))
            if frame.get("type") not in SKIPPED_TYPES:
                return frame

    async def until(self, predicate: Callable[[dict[str, Any]], bool],
                    timeout: float = TIMEOUT) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        before = []
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - time.monotonic()))
            if predicate(frame):
                return frame, before
            before.append(frame)

    async def command(self, kind: str, data: dict | None = None, ref: Any = "r",
                      timeout: float = TIMEOUT) -> tuple[dict, list[dict]]:
        await self.ws.send(json.dumps({"type": kind, "ref": ref, "data": data or {}}))
        return await self.until(lambda f: f.get("type") == "reply" and f.get("ref") == ref, timeout)

    async def close(self) -> None:
        await self.ws.close()


async def operator(base: str, user: Any) -> Client:
    key = await db(token_for)(user)
    ws = await ws_connect(ws_url(base, "/ws/operator/"), additional_headers={"Authorization": f"Token {key}"})
    client = Client(ws)
    reply, _ = await client.command("ping", ref="hello")  # joined once this round trip is done
    assert reply["ok"]
    return client


async def widget(base: str, contact_inbox: Any, origin: str = ORIGIN) -> tuple[Client, dict]:
    ws = await ws_connect(ws_url(base, "/ws/widget/"), origin=origin)
    client = Client(ws)
    reply, _ = await client.command("auth", {"pubsub_token": contact_inbox.pubsub_token}, ref="auth")
    assert reply["ok"], reply
    return client, reply


async def close_code(client: Client, timeout: float = TIMEOUT) -> int:
    """Read until the server closes the socket; its close code (1006 when it just dropped)."""
    try:
        while True:
            await client.recv(timeout)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else 1006
