"""Real faults for outage tests: a private Redis server to kill and restart, and a TCP path to
PostgreSQL to cut and restore. Nothing is mocked: the server processes under test talk to real
services over real sockets, and the faults are the ones production sees (connection refused,
connections dropped under the client).

* ``PrivateRedis``: ``redis-server`` on a free port of its own (no persistence), started by the
  test; ``kill()`` (SIGKILL), ``start()`` again on the same port, empty.
* ``PostgresPath``: a TCP relay on a free port in front of the shared PostgreSQL. A server given
  ``path.database_url()`` reaches the test database through it. ``cut()`` drops every open
  connection and refuses new ones, as a stopped or restarted PostgreSQL does for its clients;
  ``restore()`` accepts again. The shared PostgreSQL itself is never touched.
* ``terminate_backends()``: ``pg_terminate_backend`` on the other sessions of the test database,
  what a PostgreSQL restart does to every pooled connection.

Every helper is a context manager and cleans up its process, sockets and threads on exit, even
when the test fails.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.live import free_port


class PrivateRedis:
    """A redis-server of this test's own, on its own port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="private-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 10.0) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        with (self.dir / "redis.log").open("ab") as out:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.dir)],
                stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.dir / 'redis.log').read_text()[-1000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on {self.port}")
            time.sleep(0.05)

    def ping(self) -> bool:
        try:
            return self.client(timeout=0.5).ping()
        except Exception:
            return False

    def client(self, *, timeout: float = 2.0) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout,
                           decode_responses=True)

    def kill(self) -> None:
        """SIGKILL, as a crash: clients see their connections drop and new ones refused."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresPath:
    """A TCP relay in front of PostgreSQL that the test can cut and restore (see the module)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def database_url(self, url: str) -> str:
        """``url`` (a postgres:// URL) with its host and port replaced by this relay's."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def restore(self) -> None:
        """Accept connections again."""
        with self._lock:
            assert self._listener is None, "already open"
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True, name="pg-path-accept")
        thread.start()
        self._threads.append(thread)

    def cut(self) -> None:
        """Drop every open connection and refuse new ones (nothing listens on the port)."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            _close(listener)
        for sock in sockets:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    _close(client)
                    _close(upstream)
                    return
                self._sockets |= {client, upstream}
            for source, target in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=_pump, args=(source, target), daemon=True, name="pg-path-pump")
                thread.start()

    def __enter__(self) -> PostgresPath:
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        for thread in self._threads:
            thread.join(5)


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def postgres_path_for(url: str) -> PostgresPath:
    parts = urlsplit(url)
    return PostgresPath(parts.hostname or "127.0.0.1", parts.port or 5432)


def terminate_backends(*, application_name: str | None = None) -> int:
    """``pg_terminate_backend`` on every other session of the current (test) database;
    how many were terminated. Only this test database's sessions: other agents' are untouched."""
    from django.db import connection

    sql = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    params: list[str] = []
    if application_name is not None:
        sql += " AND application_name = %s"
        params.append(application_name)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])
