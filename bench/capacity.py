"""Capacity: idle widget sockets across processes, a connection storm, and churn (docs/benchmarks.md,
"Capacity").

    .venv/bin/python bench/capacity.py [--sockets 50000] [--per-process 15000] [--bare 10000]
                                       [--storm 2000] [--churn-minutes 10] [--phases idle,storm,churn]
                                       [--json PATH]

* **idle**: ``--sockets`` authenticated widget sockets spread over as many daphne processes as
  the file-descriptor limit needs (``--per-process`` each), held by raw-socket client processes
  that heartbeat like the widget (a ``ping`` every 20 s per socket, spread evenly). Reported per
  process: KiB of RSS per socket, and CPU (% of one core) over 30 s of idling; beside it, in the
  same run, the bare Channels consumer (bench/baseline_relay.py, no auth, no database) holding
  ``--bare`` idle sockets on one process of the same server.
* **storm**: ``--storm`` new visitors at once, spread over ``--storm-processes`` servers (the widget's own sequence: ``POST
  /api/widget/v1/sessions``, then a socket and its ``auth`` frame), 200 in flight; reports the
  wall time, the p50/p95 of a visitor's session + handshake, and failures. The per-IP widget
  throttle is raised for the run (a real storm comes from many addresses; one loopback client
  would only measure the throttle).
* **churn**: for ``--churn-minutes``, 50 workers repeat connect → auth → send a message → get
  its reply → disconnect, each as a new socket of a reused visitor. RSS of the server and the
  Redis key count before and after (after a settle of ``PRESENCE_TTL_SECONDS`` + grace).

Needs PostgreSQL (BENCH_PG) and Redis (BENCH_REDIS), like bench/relay.py.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import Listener, handshake  # noqa: E402
from bench.relay import (  # noqa: E402
    ORIGIN,
    Server,
    drop_database,
    load_data,
    recreate_database,
    server_env,
    widget_ws,
)

PING_SECONDS = 20.0


# --- Client processes: hold sockets, heartbeat --------------------------------------------------


def holder_main(conn: Any) -> None:
    asyncio.run(_holder(conn))


async def _holder(conn: Any) -> None:
    loop = asyncio.get_running_loop()
    listeners: list[Listener] = []
    commands: asyncio.Queue[Any] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: commands.put_nowait(conn.recv()))
    heartbeat: asyncio.Task[None] | None = None

    async def open_one(host: str, port: int, path: str, headers: dict[str, str], first: bytes | None) -> bool:
        opened: asyncio.Future[bool] = loop.create_future()
        listener = Listener(handshake(host, port, path, headers), lambda *_: None, opened, first)
        await loop.create_connection(lambda: listener, host, port)
        if await asyncio.wait_for(opened, 60):
            listeners.append(listener)
            return True
        return False

    async def open_many(host: str, port: int, path: str, items: list[tuple[dict[str, str], bytes | None]]) -> int:
        semaphore = asyncio.Semaphore(100)

        async def limited(headers: dict[str, str], first: bytes | None) -> bool:
            async with semaphore:
                try:
                    return await open_one(host, port, path, headers, first)
                except (TimeoutError, OSError):
                    return False

        return sum(await asyncio.gather(*(limited(h, f) for h, f in items)))

    async def beat() -> None:
        """A ping per socket every PING_SECONDS, spread evenly over the period."""
        ping = json.dumps({"type": "ping"}).encode()
        while True:
            started = time.monotonic()
            live = [s for s in listeners if not s.closed]
            for index, listener in enumerate(live):
                due = started + PING_SECONDS * index / max(1, len(live))
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not listener.closed and listener.transport is not None:
                    listener.send(0x1, ping)
            await asyncio.sleep(max(0.0, started + PING_SECONDS - time.monotonic()))

    while True:
        command = await commands.get()
        if command[0] == "connect":
            _, host, port, path, items, pings = command
            ok = await open_many(host, port, path, items)
            if pings and heartbeat is None:
                heartbeat = asyncio.create_task(beat())
            conn.send(("connected", ok, len(items) - ok))
        elif command[0] == "alive":
            conn.send(("alive", sum(1 for s in listeners if not s.closed)))
        elif command[0] == "close":
            if heartbeat:
                heartbeat.cancel()
                heartbeat = None
            for listener in listeners:
                if listener.transport:
                    listener.transport.close()
            listeners.clear()
            conn.send(("closed",))
        elif command[0] == "exit":
            return


class Holders:
    def __init__(self, count: int) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.pipes, self.procs = [], []
        for _ in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=holder_main, args=(child,), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def ask(self, index: int, command: tuple[Any, ...], reply: str) -> Any:
        self.pipes[index].send(command)
        while True:
            message = self.pipes[index].recv()
            if message[0] == reply:
                return message

    def stop(self) -> None:
        for pipe in self.pipes:
            pipe.send(("exit",))
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


def auth_frame(token: str) -> bytes:
    return json.dumps({"type": "auth", "ref": "auth", "data": {"pubsub_token": token}}).encode()


def cpu_percent(pids: list[int], seconds: float) -> list[float]:
    import psutil

    procs = [psutil.Process(pid) for pid in pids]
    before = [sum(p.cpu_times()[:2]) for p in procs]
    time.sleep(seconds)
    after = [sum(p.cpu_times()[:2]) for p in procs]
    return [round((a - b) / seconds * 100, 1) for a, b in zip(after, before, strict=True)]


# --- Phases ------------------------------------------------------------------------------------


def idle_phase(args: argparse.Namespace, env: dict[str, str], tokens: list[str]) -> dict[str, Any]:
    processes = math.ceil(args.sockets / args.per_process)
    share = math.ceil(args.sockets / processes)
    servers = [Server("daphne", "project.asgi:application", env) for _ in range(processes)]
    holders = Holders(processes)
    rows = []
    try:
        warm = []
        for index, server in enumerate(servers):  # imports, the hub, first connections
            items = [({"Origin": ORIGIN}, auth_frame(t)) for t in tokens[index * 20 : index * 20 + 20]]
            warm.append(holders.ask(index, ("connect", "127.0.0.1", server.port, "/ws/widget/", items, True),
                                    "connected"))
        time.sleep(2)
        rss_before = [s.rss() for s in servers]
        offset = processes * 20
        started = time.monotonic()
        for index, server in enumerate(servers):
            chunk = tokens[offset + index * share : offset + (index + 1) * share]
            holders.pipes[index].send(("connect", "127.0.0.1", server.port, "/ws/widget/",
                                       [({"Origin": ORIGIN}, auth_frame(t)) for t in chunk], True))
        results = []
        for index in range(processes):
            while True:
                message = holders.pipes[index].recv()
                if message[0] == "connected":
                    results.append(message)
                    break
        connect_seconds = time.monotonic() - started
        time.sleep(10)  # settle: presence writes, first heartbeats
        cpu = cpu_percent([s.proc.pid for s in servers], 30.0)
        rss_after = [s.rss() for s in servers]
        alive = [holders.ask(i, ("alive",), "alive")[1] for i in range(processes)]
        for index in range(processes):
            opened = results[index][1]
            rows.append({"process": index, "sockets": opened, "failed": results[index][2],
                         "alive_after_idle": alive[index] - 20,
                         "kib_per_socket": round((rss_after[index] - rss_before[index]) / max(1, opened) / 1024, 1),
                         "rss_mib": round(rss_after[index] / 2**20), "idle_cpu_percent": cpu[index]})
            print(f"    idle full {rows[-1]}", flush=True)
        for index in range(processes):
            holders.ask(index, ("close",), "closed")
    finally:
        holders.stop()
        for server in servers:
            server.stop()
    bare = bare_idle(args, env)
    total = sum(r["sockets"] for r in rows)
    worst = max(r["kib_per_socket"] for r in rows)
    return {"sockets": total, "processes": processes, "connect_seconds": round(connect_seconds, 1),
            "per_process": rows, "bare": bare,
            "kib_ratio": round(worst / bare["kib_per_socket"], 2) if bare["kib_per_socket"] else None,
            "max_idle_cpu_percent": max(r["idle_cpu_percent"] for r in rows)}


def bare_idle(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    server = Server("daphne", "bench.baseline_relay:application", env)
    holders = Holders(1)
    try:
        holders.ask(0, ("connect", "127.0.0.1", server.port, "/relay/operator/idle/", [({}, None)] * 20, False),
                    "connected")
        time.sleep(2)
        before = server.rss()
        _, opened, failed = holders.ask(
            0, ("connect", "127.0.0.1", server.port, "/relay/operator/idle/", [({}, None)] * args.bare, False),
            "connected")
        time.sleep(10)
        cpu = cpu_percent([server.proc.pid], 30.0)[0]
        after = server.rss()
        row = {"sockets": opened, "failed": failed, "kib_per_socket": round((after - before) / max(1, opened) / 1024, 1),
               "idle_cpu_percent": cpu}
        print(f"    idle bare {row}", flush=True)
        holders.ask(0, ("close",), "closed")
        return row
    finally:
        holders.stop()
        server.stop()


async def storm_phase(args: argparse.Namespace, env: dict[str, str], website_token: str) -> dict[str, Any]:
    import httpx

    # As many processes as cores, each visitor to one of them in turn, as a load balancer would.
    servers = [Server("daphne", "project.asgi:application", env) for _ in range(args.storm_processes)]
    semaphore = asyncio.Semaphore(200)
    times: list[float] = []
    failures: list[str] = []
    sockets: list[Any] = []
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=30,
                                 limits=httpx.Limits(max_connections=200)) for server in servers]
    try:
        for client in clients:
            await client.get("/healthz")

        async def visitor(i: int) -> None:
            async with semaphore:
                client, server = clients[i % len(clients)], servers[i % len(servers)]
                started = time.monotonic()
                try:
                    response = await client.post("/api/widget/v1/sessions", json={"website_token": website_token},
                                                 headers={"Origin": ORIGIN})
                    response.raise_for_status()
                    token = response.json()["contact_inbox"]["pubsub_token"]
                    sockets.append(await widget_ws(server.url, token))
                    times.append(time.monotonic() - started)
                except Exception as exc:  # counted and reported, not raised: a storm measures failures
                    failures.append(repr(exc)[:200])

        started = time.monotonic()
        await asyncio.gather(*(visitor(i) for i in range(args.storm)))
        wall = time.monotonic() - started
    finally:
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
        for client in clients:
            await client.aclose()
        for server in servers:
            server.stop()
    times.sort()
    row = {"visitors": args.storm, "processes": args.storm_processes, "wall_seconds": round(wall, 2), "failures": len(failures),
           "p50_ms": round(statistics.median(times) * 1000) if times else None,
           "p95_ms": round(times[int(len(times) * 0.95) - 1] * 1000) if times else None,
           "first_failures": failures[:3]}
    print(f"    storm {row}", flush=True)
    return row


async def churn_phase(args: argparse.Namespace, env: dict[str, str], tokens: list[str]) -> dict[str, Any]:
    import redis

    server = Server("daphne", "project.asgi:application", env)
    store = redis.Redis.from_url(env["REDIS_URL"])
    settle = int(env.get("PRESENCE_TTL_SECONDS", "60")) + 10
    try:
        # A first round warms the process (imports, pools, the hub) before the baseline.
        ws = await widget_ws(server.url, tokens[0])
        await ws.close()
        await asyncio.sleep(settle)
        rss_before, keys_before = server.rss(), store.dbsize()
        deadline = time.monotonic() + args.churn_minutes * 60
        done = errors = 0

        async def worker(w: int) -> None:
            nonlocal done, errors
            i = w
            while time.monotonic() < deadline:
                token = tokens[i % len(tokens)]
                i += 50
                try:
                    ws = await widget_ws(server.url, token)
                    ref = f"c{i}"
                    await ws.send(json.dumps({"type": "message.create", "ref": ref,
                                              "data": {"content": "churn", "echo_id": f"churn-{i}"}}))
                    while json.loads(await ws.recv()).get("ref") != ref:
                        pass
                    await ws.close()
                    done += 1
                except Exception:
                    errors += 1

        samples: list[float] = []

        async def sample() -> None:
            """RSS once a minute: a plateau is the allocator keeping freed arenas, a slope a leak."""
            while True:
                await asyncio.sleep(60)
                samples.append(round(server.rss() / 2**20, 1))

        sampler = asyncio.create_task(sample())
        await asyncio.gather(*(worker(w) for w in range(50)))
        sampler.cancel()
        await asyncio.sleep(settle)
        rss_after, keys_after = server.rss(), store.dbsize()
    finally:
        server.stop()
    row = {"minutes": args.churn_minutes, "sessions": done, "errors": errors,
           "rss_mib_before": round(rss_before / 2**20, 1), "rss_mib_after": round(rss_after / 2**20, 1),
           "redis_keys_before": keys_before, "redis_keys_after": keys_after, "rss_mib_each_minute": samples}
    print(f"    churn {row}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=50_000)
    parser.add_argument("--per-process", type=int, default=15_000)
    parser.add_argument("--bare", type=int, default=10_000)
    parser.add_argument("--storm", type=int, default=2_000)
    parser.add_argument("--storm-processes", type=int, default=2, help="server processes taking the storm")
    parser.add_argument("--churn-minutes", type=float, default=10.0)
    parser.add_argument("--phases", default="idle,storm,churn")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    redis_url = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/2")
    recreate_database(base)
    try:
        env = server_env(base, redis_url) | {"THROTTLE_WIDGET_IP": "1000000/min", "WS_IDLE_TIMEOUT_SECONDS": "60"}
        phases = args.phases.split(",")
        visitors = (args.sockets + 20 * math.ceil(args.sockets / args.per_process)) if "idle" in phases else 500
        data = load_data(env, pairs=0, fanout=0, idle=visitors)
        from chat.models import Inbox

        website_token = Inbox.objects.get(name="idle").website_token
        figures: dict[str, Any] = {}
        if "idle" in phases:
            print("== idle", flush=True)
            figures["idle"] = idle_phase(args, env, data.idle_visitors)
        if "storm" in phases:
            print("== storm", flush=True)
            figures["storm"] = asyncio.run(storm_phase(args, env, website_token))
        if "churn" in phases:
            print("== churn", flush=True)
            figures["churn"] = asyncio.run(churn_phase(args, env, data.idle_visitors[:500]))
        print(json.dumps(figures, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        drop_database(base)


if __name__ == "__main__":
    main()
