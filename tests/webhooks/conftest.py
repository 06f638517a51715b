"""A real HTTP receiver on loopback for the webhook tests, recording raw bodies and headers."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each request with the next status of ``statuses`` (then ``default_status``)."""

    server: ThreadingHTTPServer
    hits: list[Hit] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    extra_headers: dict[str, str] = field(default_factory=dict)
    # Called (in the server's thread) before answering a request: a test's way to hold it.
    before_answer: Callable[[Hit], None] | None = None
    # Writes the whole answer instead of the default one (status, headers, body).
    respond: Callable[[BaseHTTPRequestHandler], None] | None = None
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, count: int, timeout: float = 10) -> list[Hit]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.hits) >= count, timeout=timeout), self.hits
        return self.hits


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            recv = state["r"]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with recv.arrived:
                recv.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = recv.statuses.pop(0) if recv.statuses else recv.default_status
                recv.arrived.notify_all()
            if recv.before_answer is not None:
                recv.before_answer(recv.hits[-1])
            if recv.respond is not None:
                recv.respond(self)
                return
            self.send_response(status)
            for name, value in recv.extra_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["r"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["r"]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def _private_networks_allowed(settings) -> None:
    """The receiver is on loopback; the SSRF tests turn this off again."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
