"""Fan-out to thousands of listeners, the websocket-shootout way (docs/benchmarks.md, "Fan-out").

    .venv/bin/python bench/fanout.py [--servers daphne] [--start 500] [--step 500] [--max 8000]
                                     [--broadcasts 40] [--clients 2] [--json PATH]

The method of github.com/hashrocket/websocket-shootout's ``broadcast`` benchmark: listeners are
added in steps; at each step one sender keeps 4 broadcasts in flight, and a broadcast's time is
from its send until the LAST listener has it; a step passes while the p95 of those times is
≤ 500 ms and every listener got every broadcast. The result is the largest passing step.

Two servers in the same run, on the same machine and client:

* **full**: the product (daphne ``project.asgi``): listeners are operator sockets of one inbox
  (token auth), the sender is a visitor's widget socket doing ``message.create``; each broadcast
  is a stored message that reaches every operator as ``message.created`` through the outbox and
  the stream hub (PostgreSQL and Redis included);
* **bare**: ``websockets`` (the library's asyncio server and its ``broadcast``), no auth, no
  database: what Python can do on one process here.

The listening client is not the bottleneck: listeners are spread over ``--clients`` processes,
each a plain asyncio Protocol with a minimal RFC 6455 reader (no per-frame task, no JSON
parsing: a broadcast is found by its marker in the frame's bytes), which reports per broadcast
when its last local listener has it. Every delivery is counted (``missing``: deliveries that
did not arrive within ``--timeout``).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import re
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.relay import (  # noqa: E402
    Server,
    drop_database,
    load_data,
    recreate_database,
    server_env,
    widget_ws,
)

MARK = re.compile(rb"bcast-(\d+)-(\d+)")
P95_BOUND_MS = 500.0
IN_FLIGHT = 4

# --- The listening client (one process per --clients) --------------------------------------------


class Listener(asyncio.Protocol):
    """One socket: handshake, then frames. Reports a broadcast's marker to ``on_mark``.

    With ``first_frame`` (a widget's ``auth``), it is sent after the upgrade and the socket
    counts as open when the reply to ref ``auth`` says ok."""

    def __init__(self, request: bytes, on_mark: Any, opened: asyncio.Future[bool],
                 first_frame: bytes | None = None) -> None:
        self.request, self.on_mark, self.opened, self.first_frame = request, on_mark, opened, first_frame
        self.buffer = bytearray()
        self.upgraded = False
        self.closed = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_result(False)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            ok = self.buffer.startswith(b"HTTP/1.1 101")
            del self.buffer[: end + 4]
            self.upgraded = ok
            if ok and self.first_frame is not None:
                self.send(0x1, self.first_frame)
            elif not self.opened.done():
                self.opened.set_result(ok)
            if not ok:
                assert self.transport
                self.transport.close()
                return
        self.read_frames()

    def read_frames(self) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            opcode, length = buf[0] & 0x0F, buf[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, offset = struct.unpack_from("!H", buf, 2)[0], 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, offset = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < offset + length:
                return
            payload = bytes(buf[offset : offset + length])
            del buf[: offset + length]
            if self.first_frame is not None and not self.opened.done() and b'"ref":"auth"' in payload:
                self.opened.set_result(b'"ok":true' in payload)
            elif opcode in (0, 1, 2) and (payload.startswith(b"bcast-") or b"message.created" in payload):
                # One delivery per frame: the product's message.created frame (not the
                # conversation.updated that repeats the last message), or the bare server's text.
                match = MARK.search(payload)
                if match:
                    self.on_mark(int(match.group(1)), int(match.group(2)))
            elif opcode == 9:  # ping: answer with a masked pong
                self.send(0xA, payload)
            elif opcode == 8:
                assert self.transport
                self.transport.close()

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = bytes([0x80 | opcode, 0x80 | n]) + mask
        else:
            header = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", n) + mask
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport
        self.transport.write(header + masked)


def handshake(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def client_main(conn: Any) -> None:
    """A client process: commands from the parent over ``conn``; reports (step, bid, t_last)."""
    asyncio.run(_client(conn))


async def _client(conn: Any) -> None:
    loop = asyncio.get_running_loop()
    listeners: list[Listener] = []
    counts: dict[tuple[int, int], int] = {}
    commands: asyncio.Queue[Any] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: commands.put_nowait(conn.recv()))

    def on_mark(step: int, bid: int) -> None:
        key = (step, bid)
        n = counts.get(key, 0) + 1
        counts[key] = n
        if n == len(listeners):
            conn.send(("done", step, bid, time.monotonic()))

    async def open_one(host: str, port: int, path: str, headers: dict[str, str]) -> bool:
        opened: asyncio.Future[bool] = loop.create_future()
        listener = Listener(handshake(host, port, path, headers), on_mark, opened)
        await loop.create_connection(lambda: listener, host, port)
        if await asyncio.wait_for(opened, 60):
            listeners.append(listener)
            return True
        return False

    async def open_many(host: str, port: int, path: str, header_list: list[dict[str, str]]) -> list[bool]:
        semaphore = asyncio.Semaphore(64)

        async def limited(headers: dict[str, str]) -> bool:
            async with semaphore:
                try:
                    return await open_one(host, port, path, headers)
                except (TimeoutError, OSError):
                    return False

        return await asyncio.gather(*(limited(h) for h in header_list))

    while True:
        command = await commands.get()
        if command[0] == "connect":
            _, host, port, path, header_list = command
            results = await open_many(host, port, path, header_list)
            conn.send(("connected", sum(results), len(results) - sum(results)))
        elif command[0] == "count":
            step = command[1]
            conn.send(("count", sum(n for (s, _), n in counts.items() if s == step)))
        elif command[0] == "close":
            for listener in listeners:
                if listener.transport:
                    listener.transport.close()
            listeners.clear()
            counts.clear()
            conn.send(("closed",))
        elif command[0] == "exit":
            return


# --- The bare server ---------------------------------------------------------------------------


def bare_server_main(port: int) -> None:
    """``websockets``' own server: /listen sockets receive every frame a /send socket sends."""
    from websockets.asyncio.server import broadcast, serve

    listeners: set[Any] = set()

    async def handler(ws: Any) -> None:
        if ws.request.path == "/listen":
            listeners.add(ws)
            try:
                await ws.wait_closed()
            finally:
                listeners.discard(ws)
        else:
            async for message in ws:
                broadcast(listeners, message)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None, ping_interval=None):
            await asyncio.Future()

    asyncio.run(main())


# --- The driver --------------------------------------------------------------------------------


class Clients:
    def __init__(self, count: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes, self.procs = [], []
        for _ in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=client_main, args=(child,), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def ask(self, command: tuple[Any, ...], reply: str) -> list[Any]:
        for pipe in self.pipes:
            pipe.send(command)
        answers = []
        for pipe in self.pipes:
            while True:
                message = pipe.recv()
                if message[0] == reply:
                    answers.append(message)
                    break
        return answers

    def connect(self, host: str, port: int, path: str, headers: list[dict[str, str]]) -> tuple[int, int]:
        chunks = [headers[i :: len(self.pipes)] for i in range(len(self.pipes))]
        for pipe, chunk in zip(self.pipes, chunks, strict=True):
            pipe.send(("connect", host, port, path, chunk))
        ok = failed = 0
        for pipe in self.pipes:
            while True:
                message = pipe.recv()
                if message[0] == "connected":
                    ok, failed = ok + message[1], failed + message[2]
                    break
        return ok, failed

    def stop(self) -> None:
        for pipe in self.pipes:
            pipe.send(("exit",))
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


async def settle(pid: int, *, quiet_share: float = 0.05, window: float = 1.0, limit: float = 600.0) -> float:
    """Wait until the server process uses less than ``quiet_share`` of a core over ``window``
    seconds (at most ``limit``); the seconds waited."""
    import psutil

    process = psutil.Process(pid)
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = sum(process.cpu_times()[:2])
        await asyncio.sleep(window)  # the sender's socket keeps answering the server's pings
        if sum(process.cpu_times()[:2]) - before < quiet_share * window:
            break
    return time.monotonic() - started


async def run_step(clients: Clients, send: Any, step: int, listeners: int, broadcasts: int,
                   timeout: float) -> dict[str, Any]:
    """``broadcasts`` broadcasts, 4 in flight; each done when every client process reported it."""
    loop = asyncio.get_running_loop()
    sent_at: dict[int, float] = {}
    pending: dict[int, set[int]] = {}
    latest: dict[int, float] = {}
    done: dict[int, asyncio.Future[None]] = {}
    reports: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    for index, pipe in enumerate(clients.pipes):
        loop.add_reader(pipe.fileno(), lambda i=index, p=pipe: reports.put_nowait((i, p.recv())))

    async def pump() -> None:
        while True:
            index, message = await reports.get()
            if message[0] != "done" or message[1] != step:
                continue
            bid, t_last = message[2], message[3]
            if bid in pending:
                pending[bid].discard(index)
                latest[bid] = max(latest.get(bid, 0.0), t_last)
                if not pending[bid] and not done[bid].done():
                    done[bid].set_result(None)

    pumper = asyncio.create_task(pump())
    latencies: list[float] = []
    timed_out = 0
    semaphore = asyncio.Semaphore(IN_FLIGHT)

    async def one(bid: int) -> None:
        nonlocal timed_out
        async with semaphore:
            pending[bid] = set(range(len(clients.pipes)))
            done[bid] = loop.create_future()
            sent_at[bid] = time.monotonic()
            await send(f"bcast-{step}-{bid}")
            try:
                await asyncio.wait_for(asyncio.shield(done[bid]), timeout)
                latencies.append((latest[bid] - sent_at[bid]) * 1000)
            except TimeoutError:
                timed_out += 1

    started = time.monotonic()
    await asyncio.gather(*(one(b) for b in range(broadcasts)))
    elapsed = time.monotonic() - started
    pumper.cancel()
    for pipe in clients.pipes:
        loop.remove_reader(pipe.fileno())
    received = sum(answer[1] for answer in clients.ask(("count", step), "count"))
    expected = listeners * broadcasts
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)] if latencies else float("inf")
    return {"listeners": listeners, "broadcasts": broadcasts, "p50_ms": round(statistics.median(latencies), 1)
            if latencies else None, "p95_ms": round(p95, 1), "missing": expected - received, "timed_out": timed_out,
            "deliveries_per_s": round(received / elapsed) if elapsed else 0}


async def measure(kind: str, args: argparse.Namespace, data: Any, env: dict[str, str]) -> list[dict[str, Any]]:
    import subprocess

    from bench.relay import free_port

    clients = Clients(args.clients)
    rows: list[dict[str, Any]] = []
    server: Any = None
    bare: Any = None
    sender: Any = None
    try:
        if kind == "full":
            server = Server(args.server, "project.asgi:application", env)
            port = server.port
            sender = await widget_ws(server.url, data.fan_visitor)
            ref = 0

            async def send(text: str) -> None:
                nonlocal ref
                ref += 1
                await sender.send(json.dumps({"type": "message.create", "ref": f"b{ref}",
                                              "data": {"content": text, "echo_id": f"{text}-{ref}"}}))

            path, all_headers = "/ws/operator/", [{"Authorization": f"Token {t}"} for t in data.fan_tokens]
        else:
            port = free_port()
            bare = subprocess.Popen([sys.executable, "-c", f"import bench.fanout as f; f.bare_server_main({port})"],
                                    cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            from websockets.asyncio.client import connect

            for _ in range(100):
                try:
                    sender = await connect(f"ws://127.0.0.1:{port}/send", compression=None, ping_interval=None)
                    break
                except OSError:
                    await asyncio.sleep(0.1)

            async def send(text: str) -> None:
                await sender.send(text)

            path, all_headers = "/listen", [{} for _ in data.fan_tokens]
        if kind == "full":
            # The sender's reader: replies and echoes are read and dropped (the socket must not back up).
            async def drain() -> None:
                async for _ in sender:
                    pass

            drainer = asyncio.create_task(drain())
        connected = 0
        step = 0
        target = args.start
        while target <= min(args.max, len(all_headers)):
            ok, failed = clients.connect("127.0.0.1", port, path, all_headers[connected:target])
            connected += ok
            step += 1
            if failed:
                print(f"    {kind}: {failed} handshakes failed at {target}", flush=True)
            # Connecting operators come online: each one's presence.updated goes to every other
            # operator of the inbox (N² deliveries per step). Time the broadcasts once that is done.
            if server is not None:
                settled = await settle(server.proc.pid)
                print(f"    full: server settled after {settled:.1f} s", flush=True)
            # A warm-up broadcast: every listener is subscribed before the step is timed.
            await run_step(clients, send, 10_000 + step, connected, 2, args.timeout)
            row = await run_step(clients, send, step, connected, args.broadcasts, args.timeout)
            row["handshake_failures"] = failed
            rows.append(row)
            print(f"    {kind:5s} {row}", flush=True)
            if row["p95_ms"] > P95_BOUND_MS or row["missing"] or failed:
                break
            target += args.step
        if kind == "full":
            drainer.cancel()
    finally:
        clients.ask(("close",), "closed")
        clients.stop()
        if sender is not None:
            await sender.close()
        if server is not None:
            server.stop()
        if bare is not None:
            bare.terminate()
            bare.wait(10)
    return rows


def best(rows: list[dict[str, Any]]) -> int:
    passing = [r["listeners"] for r in rows if r["p95_ms"] <= P95_BOUND_MS and not r["missing"]
               and not r["handshake_failures"]]
    return max(passing, default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="daphne", choices=["daphne", "uvicorn"])
    parser.add_argument("--start", type=int, default=500)
    parser.add_argument("--step", type=int, default=500)
    parser.add_argument("--max", type=int, default=8000)
    parser.add_argument("--broadcasts", type=int, default=40)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds a broadcast may take")
    parser.add_argument("--clients", type=int, default=2, help="listening client processes")
    parser.add_argument("--apps", default="full,bare")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    redis_url = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/2")
    recreate_database(base)
    try:
        env = server_env(base, redis_url) | {"WS_CONNECTIONS_PER_USER": "1000", "LOG_LEVEL": "ERROR"}
        data = load_data(env, pairs=0, fanout=args.max, idle=0)
        results = {}
        for kind in args.apps.split(","):
            print(f"== {kind}", flush=True)
            results[kind] = asyncio.run(measure(kind, args, data, env))
        figures = {"server": args.server, "listeners_full": best(results.get("full", [])),
                   "listeners_bare": best(results.get("bare", [])), "steps": results}
        print(json.dumps({k: v for k, v in figures.items() if k != "steps"}, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        drop_database(base)


if __name__ == "__main__":
    main()
