"""The shipped nginx configuration (deploy/nginx/messenger.conf) in front of three server
processes, no sticky sessions: a conversation end to end through it over the socket, SSE and
long-poll, and a resume after the process holding the operator's socket is killed.

nginx is Debian's (`apt-get install nginx`; bin/test installs it when missing, as root).
"""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect

from chat.models import Event
from tests.live import ROOT, TIMEOUT, Client, LiveServer, close_code, free_port, live_servers, wait_listening, ws_url
from tests.realtime.conftest import ORIGIN, SKIPPED_TYPES, db, token_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE = ROOT / "deploy" / "nginx" / "messenger.conf"


def render_site(*, listen_port: int, upstream_ports: list[int]) -> str:
    """The shipped site file with our ports in place of the example ones (between its markers)."""
    text = SITE.read_text()
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in upstream_ports)
    text, n_upstream = re.subn(r"(# BEGIN upstream servers\n).*?(\s*# END upstream servers)",
                               lambda m: m.group(1) + servers + m.group(2).lstrip("\n"), text, flags=re.S)
    text, n_listen = re.subn(r"(# BEGIN listen\n).*?(\s*# END listen)",
                             lambda m: m.group(1) + f"    listen 127.0.0.1:{listen_port};\n" + m.group(2).lstrip("\n"),
                             text, flags=re.S)
    assert n_upstream == 1 and n_listen == 1, "deploy/nginx/messenger.conf lost its BEGIN/END markers"
    return text


class Nginx:
    def __init__(self, *, upstream_ports: list[int]) -> None:
        self.port = free_port()
        self.prefix = Path(tempfile.mkdtemp(prefix="live-nginx-"))
        (self.prefix / "logs").mkdir()
        (self.prefix / "messenger.conf").write_text(render_site(listen_port=self.port, upstream_ports=upstream_ports))
        temp = self.prefix / "tmp"
        # A minimal main context around the site file, everything under our own prefix. The
        # test-only header names the upstream that served a request (not in the shipped file:
        # it would tell the world the internal addresses).
        (self.prefix / "nginx.conf").write_text(f"""
worker_processes 1;
pid {self.prefix}/nginx.pid;
error_log {self.prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    add_header X-Test-Upstream $upstream_addr always;
    include {self.prefix}/messenger.conf;
}}
""")
        temp.mkdir()
        check = subprocess.run([NGINX, "-t", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.log = self.prefix / "logs" / "stdout.log"
        with self.log.open("wb") as out:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [NGINX, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"), "-g", "daemon off;"],
                stdout=out, stderr=subprocess.STDOUT,
            )
        wait_listening(self.port, self.process, self.log)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker) -> Iterator[tuple[Nginx, list[LiveServer]]]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed (apt-get install nginx); bin/test installs it as root")
    with live_servers(3) as servers:
        proxy = Nginx(upstream_ports=[s.port for s in servers])
        try:
            yield proxy, servers
        finally:
            proxy.stop()


def upstream_port(headers) -> int:
    return int(headers["x-test-upstream"].rsplit(":", 1)[1])


async def open_operator(proxy: Nginx, user) -> tuple[Client, int]:
    key = await db(token_for)(user)
    ws = await ws_connect(ws_url(proxy.url, "/ws/operator/"), additional_headers={"Authorization": f"Token {key}"})
    client = Client(ws)
    reply, _ = await client.command("ping", ref="hello")
    assert reply["ok"]
    return client, upstream_port(ws.response.headers)


def operator_visible_ids(inbox_id: int, after: int) -> list[int]:
    return list(Event.objects.filter(inbox_id=inbox_id, user_id__isnull=True, id__gt=after)
                .exclude(type__in=SKIPPED_TYPES).order_by("id").values_list("id", flat=True))


async def test_a_conversation_end_to_end_through_nginx(stack, world):
    proxy, servers = stack
    async with httpx.AsyncClient(base_url=proxy.url, timeout=TIMEOUT, headers={"Origin": ORIGIN}) as http:
        # A visitor starts a session over REST, through the balancer.
        session = await http.post("/api/widget/v1/sessions", json={"website_token": world.inbox_a.website_token})
        assert session.status_code == 201, session.text
        token = session.json()["contact_inbox"]["pubsub_token"]

        op, _ = await open_operator(proxy, world.op_a)
        ws = await ws_connect(ws_url(proxy.url, "/ws/widget/"), origin=ORIGIN)
        visitor = Client(ws)
        reply, _ = await visitor.command("auth", {"pubsub_token": token}, ref="auth")
        assert reply["ok"], reply
        start = reply["data"]["last_event_id"]

        reply, _ = await visitor.command("message.create", {"content": "hello through nginx", "echo_id": "n1"})
        assert reply["ok"], reply
        frame, _ = await op.until(lambda f: f["type"] == "message.created")
        assert frame["data"]["content"] == "hello through nginx"
        conversation_id = frame["conversation_id"]

        reply, _ = await op.command("message.create", {"conversation_id": conversation_id,
                                                       "content": "answer", "echo_id": "o1"}, ref="send")
        assert reply["ok"], reply
        answer, _ = await visitor.until(lambda f: f.get("type") == "message.created" and f["data"]["content"] == "answer")

        headers = {"X-Widget-Token": token}
        # Long-poll answers at once with what is there.
        poll = await http.get("/api/widget/v1/events", params={"after": start}, headers=headers)
        assert poll.status_code == 200
        assert answer["id"] in [e["id"] for e in poll.json()["events"]]
        # SSE is not buffered by the proxy: the event arrives while the stream is still open,
        # long before the server ends it (SSE_MAX_SECONDS).
        began = time.monotonic()
        async with http.stream("GET", "/api/widget/v1/stream",
                               headers={**headers, "Last-Event-ID": str(answer["id"] - 1)}) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: ") and json.loads(line[6:]).get("id") == answer["id"]:
                    break
        assert time.monotonic() - began < 10
        await op.close()
        await visitor.close()


async def test_killed_process_operator_reconnects_through_nginx_and_resumes(stack, world):
    proxy, servers = stack
    op, port = await open_operator(proxy, world.op_a)
    victim = next(s for s in servers if s.port == port)
    visitor_ws = None
    try:
        # The visitor on another process, directly (so killing the victim does not touch it).
        survivor = next(s for s in servers if s is not victim)
        visitor_ws = await ws_connect(ws_url(survivor.url, "/ws/widget/"), origin=ORIGIN)
        visitor = Client(visitor_ws)
        reply, _ = await visitor.command("auth", {"pubsub_token": world.visitor.pubsub_token}, ref="auth")
        assert reply["ok"], reply
        reply, _ = await visitor.command("message.create", {"content": "before the crash"}, ref="m0")
        assert reply["ok"]
        frame, _ = await op.until(lambda f: f["type"] == "message.created")
        last_seen = frame["id"]

        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        assert await close_code(op) != 1000  # the proxy drops the socket with its process
        for i in range(3):
            reply, _ = await visitor.command("message.create", {"content": f"while away {i}"}, ref=f"m{i + 1}")
            assert reply["ok"], reply

        # The panel reconnects to the same address; nginx sends it to a live process.
        op, new_port = await open_operator(proxy, world.op_a)
        assert new_port != victim.port
        reply, frames = await op.command("resume", {"last_event_id": last_seen}, ref="resume")
        assert reply["ok"], reply
        expected = await db(operator_visible_ids)(world.inbox_a.pk, last_seen)
        # What the new process's hub had read when the socket joined comes as the replay,
        # before the reply; what it reads later comes live after it. Together: each id once,
        # in order, nothing missing.
        frames = [f for f in frames if "id" in f and f["type"] not in SKIPPED_TYPES]
        while len(frames) < len(expected):
            frame = await op.recv()
            if "id" in frame:
                frames.append(frame)
        assert [f["id"] for f in frames] == expected
        assert [f["data"]["content"] for f in frames if f.get("type") == "message.created"] == [
            f"while away {i}" for i in range(3)]
        await op.close()
    finally:
        if visitor_ws is not None:
            await visitor_ws.close()
