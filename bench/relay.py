"""Real-time relay benchmark (docs/benchmarks.md, "Real-time").

    .venv/bin/python bench/relay.py [--servers daphne,uvicorn] [--pairs 250] [--loads 100,200,400,800]
                                    [--baseline-loads ...] [--duration 5] [--idle 1000,5000]
                                    [--fanout 200] [--keep] [--quick] [--json PATH]

``--quick --json PATH`` runs a short version (under 3 minutes) and writes the summary people
read: ``relay_ratio`` (full path's knee / bare relay's knee, knee = highest load with p99 <
100 ms and nothing lost), ``relay_lost``, ``fanout_p95_ms``, ``idle_kib_ratio``.

Loopback only; every phase is bounded and the run stops by itself. For each server it runs the
full application (widget socket → ``message.create`` → outbox → hub → operator socket: auth,
PostgreSQL, Redis, everything) and, in the same run, the bare Channels relay of
bench/baseline_relay.py (same server, same channel layer, no auth, no database):

* **relay**: ``--pairs`` visitor + operator socket pairs (one inbox each). Open loop: every
  visitor sends on a fixed schedule, whatever the answers; latency is measured from the
  *intended* send time to the operator's receipt; every message is numbered, so the received
  count is exact (``lost`` = accepted by the server but never delivered within the drain time);
* **fan-out**: ``--fanout`` operators of one inbox, one visitor sending 10 msg/s; latency until
  each operator has each message (every delivery counted);
* **idle**: RSS of a fresh server process per idle (authenticated, subscribed) socket at each
  ``--idle`` count.

Needs PostgreSQL (BENCH_PG, default postgres://postgres@127.0.0.1:5432) and Redis (BENCH_REDIS,
default redis://127.0.0.1:6379/2). Creates and drops its own database (msg_bench_relay).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# BENCH_DB names the database, so that two runs on one PostgreSQL do not drop each other's.
DB_NAME = os.environ.get("BENCH_DB", "msg_bench_relay")
ORIGIN = "https://shop.example"
DRAIN_SECONDS = 10.0
RUN_ID = os.urandom(4).hex()


# --- Database and data ----------------------------------------------------------------------------


def recreate_database(base: str) -> None:
    import psycopg

    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def drop_database(base: str) -> None:
    import psycopg

    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def server_env(base: str, redis_url: str) -> dict[str, str]:
    """The servers' environment; also clears the bench's keys in Redis: the database is new, so
    keys of an earlier run (socket leases of a killed server live twice the idle timeout) would
    name the new run's rows."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match="bench:*", count=1000):
        client.delete(key)
    client.close()
    return {
        **os.environ,
        "DATABASE_URL": f"{base}/{DB_NAME}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-only",
        "SHARED_STORE_PREFIX": "bench",
        "DB_CONN_MAX_AGE": "600",
        "FLOOD_LIMIT_MESSAGES": "1000000000",
        "WS_COMMANDS_PER_10S": "1000000",
        "WS_IDLE_TIMEOUT_SECONDS": "3600",
        "LOG_LEVEL": "ERROR",
        "PYTHONPATH": str(ROOT),
    }


@dataclass
class Data:
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (operator token, visitor pubsub token)
    fan_tokens: list[str] = field(default_factory=list)
    fan_visitor: str = ""
    idle_visitors: list[str] = field(default_factory=list)


def load_data(env: dict[str, str], *, pairs: int, fanout: int, idle: int) -> Data:
    os.environ.update({k: v for k, v in env.items() if k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY",
                                                            "SHARED_STORE_PREFIX", "DB_CONN_MAX_AGE")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from chat.models import Branch, Contact, ContactInbox, Inbox, InboxMember, OperatorProfile

    User = get_user_model()
    branch = Branch.objects.create(name="Bench", is_default=True)

    def operators(prefix: str, count: int) -> list[Any]:
        users = User.objects.bulk_create([User(username=f"{prefix}{i}", password="!") for i in range(count)])
        OperatorProfile.objects.bulk_create([OperatorProfile(user=u, display_name=u.username) for u in users])
        Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in users])
        return users

    def visitors(inbox: Inbox, prefix: str, count: int) -> list[ContactInbox]:
        contacts = Contact.objects.bulk_create([Contact(name=f"{prefix}{i}") for i in range(count)])
        return ContactInbox.objects.bulk_create(
            [ContactInbox(contact=c, inbox=inbox, source_id=f"{prefix}{i}") for i, c in enumerate(contacts)]
        )

    data = Data()
    inboxes = Inbox.objects.bulk_create(
        [Inbox(branch=branch, name=f"pair {i}", enable_auto_assignment=False, allowed_origins=[ORIGIN])
         for i in range(pairs)]
    )
    users = operators("pair-op-", pairs)
    InboxMember.objects.bulk_create([InboxMember(inbox=i, user=u) for i, u in zip(inboxes, users, strict=True)])
    tokens = dict(Token.objects.filter(user__in=users).values_list("user_id", "key"))
    from chat.services.conversations import conversation_create

    for inbox, user in zip(inboxes, users, strict=True):
        (ci,) = visitors(inbox, f"pair-{inbox.pk}-", 1)
        # An open conversation already exists: the relay measures messages, not conversation starts.
        conversation_create(contact_inbox=ci)
        data.pairs.append((tokens[user.pk], ci.pubsub_token))
    fan_inbox = Inbox.objects.create(branch=branch, name="fan-out", enable_auto_assignment=False,
                                     allowed_origins=[ORIGIN])
    fan_users = operators("fan-op-", fanout)
    InboxMember.objects.bulk_create([InboxMember(inbox=fan_inbox, user=u) for u in fan_users])
    data.fan_tokens = list(Token.objects.filter(user__in=fan_users).values_list("key", flat=True))
    data.fan_visitor = visitors(fan_inbox, "fan-visitor-", 1)[0].pubsub_token
    idle_inbox = Inbox.objects.create(branch=branch, name="idle", enable_auto_assignment=False,
                                      allowed_origins=[ORIGIN])
    data.idle_visitors = [ci.pubsub_token for ci in visitors(idle_inbox, "idle-", idle)]
    return data


# --- Servers --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, kind: str, app: str, env: dict[str, str]) -> None:
        self.port = free_port()
        if kind == "daphne":
            cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), app]
        else:
            cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(self.port),
                   "--log-level", "warning", "--ws-max-size", str(1 << 20)]
        log = open(os.environ["BENCH_SERVER_LOG"], "ab") if os.environ.get("BENCH_SERVER_LOG") else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd} did not start") from None
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def rss(self) -> int:
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Profiler:
    """``py-spy record`` attached to a server process during the relay phase (``--profile``):
    collapsed stacks (``--format raw``), summed by bench/profile_top.py into self and cumulative
    tops. Attaching needs ptrace (root, or ``kernel.yama.ptrace_scope`` 0)."""

    def __init__(self, server: Server, path: str) -> None:
        self.path = path
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.proc.pid), "--rate", "250",
             "--format", "raw", "--output", path, "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # attached before the load starts

    def stop(self) -> None:
        import signal

        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(f"profile written to {self.path}", flush=True)


# --- Clients --------------------------------------------------------------------------------------


async def open_ws(url: str, **kwargs: Any) -> Any:
    from websockets.asyncio.client import connect

    return await connect(url, compression=None, ping_interval=None, max_queue=None, open_timeout=60, **kwargs)


async def operator_ws(base: str, token: str) -> Any:
    ws = await open_ws(f"{base}/ws/operator/", additional_headers={"Authorization": f"Token {token}"})
    await ws.send(json.dumps({"type": "ping", "ref": "hello"}))
    while json.loads(await ws.recv()).get("ref") != "hello":
        pass
    return ws


async def widget_ws(base: str, token: str) -> Any:
    ws = await open_ws(f"{base}/ws/widget/", origin=ORIGIN)
    await ws.send(json.dumps({"type": "auth", "ref": "auth", "data": {"pubsub_token": token}}))
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("ref") == "auth":
            if not frame["ok"]:
                raise RuntimeError(frame)
            return ws


async def gather_limited(coros: list[Any], limit: int = 50) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def run(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


class Recorder:
    """One measurement: what was sent and accepted, and the latency of each delivery of a
    message numbered in ``[first_seq, ...)`` (late arrivals of an earlier level are ignored)."""

    def __init__(self, first_seq: int = 0) -> None:
        self.first_seq = first_seq
        self.latencies: list[float] = []
        self.accepted = 0
        self.refused = 0
        self.sent = 0

    def stats(self, duration: float) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def q(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

        return {
            "sent": self.sent, "accepted": self.accepted, "refused": self.refused, "received": len(lat),
            "lost": max(0, self.accepted - len(lat)), "rate": len(lat) / duration,
            "p50": q(0.50), "p95": q(0.95), "p99": q(0.99),
        }


def parse_stamp(text: str, recorder: Recorder) -> float | None:
    # "b <seq> <intended unix time>"
    parts = text.split(" ")
    if len(parts) != 3 or parts[0] != "b" or int(parts[1]) < recorder.first_seq:
        return None
    return float(parts[2])


async def reader(ws: Any, recorder: Recorder | None, *, app: str, counts_replies: bool) -> None:
    """Read a socket until it closes; record operator deliveries; count visitor replies."""
    try:
        async for raw in ws:
            if app == "full":
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "reply" and counts_replies and recorder is not None:
                    if frame.get("ok"):
                        recorder.accepted += 1
                    else:
                        recorder.refused += 1
                elif kind == "message.created" and recorder is not None and not counts_replies:
                    stamp = parse_stamp(frame["data"]["content"], recorder)
                    if stamp is not None:
                        recorder.latencies.append(time.time() - stamp)
            elif recorder is not None:
                stamp = parse_stamp(raw, recorder)
                if stamp is not None:
                    recorder.latencies.append(time.time() - stamp)
    except Exception:
        pass


async def sender(ws: Any, *, app: str, rate: float, start: float, duration: float, offset: float,
                 recorder: Recorder, seq_base: int) -> None:
    interval = 1.0 / rate
    k = 0
    while True:
        intended = start + offset + k * interval
        if intended >= start + duration:
            return
        delay = intended - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        text = f"b {seq_base + k} {intended:.6f}"
        if app == "full":
            # echo_id unique per run: a repeated one is an idempotent retry and creates nothing.
            payload = json.dumps({"type": "message.create", "ref": seq_base + k,
                                  "data": {"content": text, "echo_id": f"{RUN_ID}-{seq_base + k}"}})
        else:
            payload = text
        await ws.send(payload)
        recorder.sent += 1
        if app != "full":
            recorder.accepted += 1
        k += 1


async def wait_drained(recorder: Recorder, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if recorder.sent and len(recorder.latencies) >= recorder.accepted and recorder.accepted + recorder.refused >= recorder.sent:
            return
        await asyncio.sleep(0.1)


def new_run_id() -> None:
    """Each phase sends echo_ids of its own (repeats across phases would be idempotent no-ops)."""
    global RUN_ID
    RUN_ID = os.urandom(4).hex()


async def relay_phase(base: str, app: str, data: Data, loads: list[float], duration: float) -> list[dict[str, Any]]:
    new_run_id()
    if app == "full":
        ops = await gather_limited([operator_ws(base, op) for op, _ in data.pairs])
        vis = await gather_limited([widget_ws(base, v) for _, v in data.pairs])
    else:
        ops = await gather_limited([open_ws(f"{base}/relay/operator/p{i}/") for i in range(len(data.pairs))])
        vis = await gather_limited([open_ws(f"{base}/relay/visitor/p{i}/") for i in range(len(data.pairs))])
    results = []
    seq = 0
    try:
        for load in loads:
            recorder = Recorder(seq)
            readers = [asyncio.create_task(reader(w, recorder, app=app, counts_replies=False)) for w in ops]
            readers += [asyncio.create_task(reader(w, recorder, app=app, counts_replies=True)) for w in vis]
            per_socket = load / len(vis)
            start = time.time() + 0.5
            senders = [
                sender(w, app=app, rate=per_socket, start=start, duration=duration,
                       offset=(i / len(vis)) / per_socket, recorder=recorder, seq_base=seq + i * 1_000_000)
                for i, w in enumerate(vis)
            ]
            seq += len(vis) * 1_000_000
            await asyncio.gather(*senders)
            await wait_drained(recorder, DRAIN_SECONDS)
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            results.append({"load": load, **recorder.stats(duration)})
            print(f"    relay {app:8s} offered {load:6.0f}/s: {results[-1]}", flush=True)
            if recorder.stats(duration)["p99"] > 5000:
                break  # far past the knee: higher loads would only queue
    finally:
        await asyncio.gather(*(w.close() for w in ops + vis), return_exceptions=True)
    return results


async def fanout_phase(base: str, app: str, data: Data, duration: float, rate: float = 10.0) -> dict[str, Any]:
    new_run_id()
    if app == "full":
        ops = await gather_limited([operator_ws(base, t) for t in data.fan_tokens])
        visitor = await widget_ws(base, data.fan_visitor)
    else:
        ops = await gather_limited([open_ws(f"{base}/relay/operator/fan/") for _ in data.fan_tokens])
        visitor = await open_ws(f"{base}/relay/visitor/fan/")
    recorder = Recorder()
    readers = [asyncio.create_task(reader(w, recorder, app=app, counts_replies=False)) for w in ops]
    readers.append(asyncio.create_task(reader(visitor, Recorder(), app=app, counts_replies=True)))
    await sender(visitor, app=app, rate=rate, start=time.time() + 0.5, duration=duration, offset=0,
                 recorder=recorder, seq_base=0)
    recorder.accepted = recorder.sent * len(ops)  # every operator must get every message
    await wait_drained(recorder, DRAIN_SECONDS)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await asyncio.gather(*(w.close() for w in ops + [visitor]), return_exceptions=True)
    result = recorder.stats(duration)
    print(f"    fan-out {app:8s} {len(ops)} listeners: {result}", flush=True)
    return result


async def idle_phase(server: Server, app: str, data: Data, count: int) -> float:
    base = server.url
    # Warm up (imports, first connections, the hub), then measure the increment.
    if app == "full":
        warm = [await widget_ws(base, t) for t in data.idle_visitors[:20]]
    else:
        warm = [await open_ws(f"{base}/relay/operator/idle/") for _ in range(20)]
    await asyncio.sleep(1.0)
    before = server.rss()
    if app == "full":
        sockets = await gather_limited([widget_ws(base, t) for t in data.idle_visitors[20 : 20 + count]])
    else:
        sockets = await gather_limited([open_ws(f"{base}/relay/operator/idle/") for _ in range(count)])
    await asyncio.sleep(2.0)
    after = server.rss()
    await gather_limited([w.close() for w in sockets + warm], limit=500)
    per_socket = (after - before) / count / 1024
    print(f"    idle {app:8s} {count} sockets: {per_socket:.1f} KiB each", flush=True)
    return per_socket


# --- Main ---------------------------------------------------------------------------------------


def table(results: dict[Any, Any], idle_counts: list[int]) -> str:
    lines = ["| server | path | offered msg/s | delivered msg/s | p50 ms | p95 ms | p99 ms | not delivered in 10 s | refused |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for (server, app), res in results.items():
        for row in res["relay"]:
            lines.append(f"| {server} | {app} | {row['load']:.0f} | {row['rate']:.0f} | {row['p50']:.0f} | "
                         f"{row['p95']:.0f} | {row['p99']:.0f} | {row['lost']} | {row['refused']} |")
    lines += ["", "| server | path | fan-out listeners | deliveries | p50 ms | p95 ms | p99 ms | not delivered in 10 s |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (server, app), res in results.items():
        f = res["fanout"]
        lines.append(f"| {server} | {app} | {res['listeners']} | {f['received']} | {f['p50']:.0f} | {f['p95']:.0f} | "
                     f"{f['p99']:.0f} | {f['lost']} |")
    lines += ["", "| server | path | " + " | ".join(f"KiB per idle socket at {n}" for n in idle_counts) + " |",
              "|---|---|" + "---:|" * len(idle_counts)]
    for (server, app), res in results.items():
        lines.append(f"| {server} | {app} | " + " | ".join(f"{res['idle'][n]:.1f}" for n in idle_counts) + " |")
    return "\n".join(lines)


def knee(relay: list[dict[str, Any]], *, p99_ms: float = 100.0) -> float:
    """The highest offered load with p99 under ``p99_ms`` and nothing lost (0 if none)."""
    good = [row["load"] for row in relay if row["p99"] < p99_ms and row["lost"] == 0]
    return max(good, default=0.0)


def summary(results: dict[Any, Any]) -> dict[str, Any]:
    """The figures people read (issue 12): full path against the bare relay, same server."""
    out: dict[str, Any] = {}
    for server in sorted({server for server, _ in results}):
        full, bare = results.get((server, "full")), results.get((server, "baseline"))
        if not full or not bare:
            continue
        full_knee, bare_knee = knee(full["relay"]), knee(bare["relay"])
        idle_counts = sorted(set(full["idle"]) & set(bare["idle"]))
        out[server] = {
            "relay_knee_full": full_knee,
            "relay_knee_bare": bare_knee,
            "relay_knee_bare_is_lower_bound": bare_knee == max(row["load"] for row in bare["relay"]),
            "relay_ratio": round(full_knee / bare_knee, 3) if bare_knee else None,
            "relay_lost": sum(row["lost"] for row in full["relay"]),
            "fanout_listeners": full["listeners"],
            "fanout_p95_ms": round(full["fanout"]["p95"], 1),
            "fanout_p95_ms_bare": round(bare["fanout"]["p95"], 1),
            "fanout_lost": full["fanout"]["lost"],
            "idle_kib_full": {n: round(full["idle"][n], 1) for n in idle_counts},
            "idle_kib_ratio": round(full["idle"][idle_counts[-1]] / bare["idle"][idle_counts[-1]], 3)
            if idle_counts and bare["idle"][idle_counts[-1]] > 0 else None,
            # Every load step of both, for the latency-against-load plot (bench/plot.py relay).
            "relay_rows": {"full": full["relay"], "baseline": bare["relay"]},
        }
    first = next(iter(out.values()), {})
    # The top-level keys name the first server's figures (daphne unless --servers says otherwise).
    return {key: first.get(key) for key in ("relay_ratio", "relay_lost", "fanout_p95_ms", "idle_kib_ratio")} | {
        "servers": out}


async def run(args: argparse.Namespace, env: dict[str, str], data: Data) -> dict[Any, Any]:
    idle_counts = [int(x) for x in args.idle.split(",")] if args.idle else []
    results: dict[Any, Any] = {}
    for server_kind in args.servers.split(","):
        for app, module in (("full", "project.asgi:application"), ("baseline", "bench.baseline_relay:application")):
            if app not in args.apps.split(","):
                continue
            print(f"== {server_kind} / {app}", flush=True)
            loads = [float(x) for x in (args.baseline_loads if app == "baseline" else args.loads).split(",")]
            server = Server(server_kind, module, env)
            profiler = Profiler(server, f"{args.profile}-{server_kind}-{app}.txt") if args.profile else None
            try:
                relay = await relay_phase(server.url, app, data, loads, args.duration)
                if profiler is not None:
                    profiler.stop()
                fanout = await fanout_phase(server.url, app, data, args.duration)
            finally:
                if profiler is not None:
                    profiler.stop()
                server.stop()
            idle = {}
            for count in idle_counts:
                server = Server(server_kind, module, env)  # a fresh process per measurement
                try:
                    idle[count] = await idle_phase(server, app, data, count)
                finally:
                    server.stop()
            results[(server_kind, app)] = {"relay": relay, "fanout": fanout, "idle": idle,
                                           "listeners": len(data.fan_tokens)}
    print()
    print(table(results, idle_counts))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="daphne,uvicorn")
    parser.add_argument("--pairs", type=int, default=250)
    parser.add_argument("--loads", default="100,200,400,800")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--idle", default="1000,5000")
    parser.add_argument("--fanout", type=int, default=200)
    parser.add_argument("--apps", default="full,baseline", help="full, baseline or both")
    parser.add_argument("--baseline-loads", default=None, help="the bare relay's loads (default: --loads)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--profile", metavar="PREFIX", help="py-spy record each server during the relay phase "
                                                            "into PREFIX-<server>-<app>.txt (collapsed stacks)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run (under 3 minutes): daphne, 100 pairs, 3 s per load, 100 fan-out "
                             "listeners, 500 idle sockets")
    parser.add_argument("--json", metavar="PATH", help="write the summary (relay_ratio, relay_lost, "
                                                       "fanout_p95_ms, idle_kib_ratio, per server) as JSON")
    explicit = {name for name in ("loads", "baseline_loads")
                for arg in sys.argv if arg.split("=")[0] == f"--{name.replace('_', '-')}"}
    args = parser.parse_args()
    if args.quick:
        args.servers, args.pairs, args.duration = "daphne", 100, 3.0
        if "loads" not in explicit:
            args.loads = "40,80,160,320"
        if "baseline_loads" not in explicit:
            args.baseline_loads = "200,400,800"
        args.idle, args.fanout = "500", 100
    args.baseline_loads = args.baseline_loads or args.loads
    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    redis_url = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/2")
    recreate_database(base)
    try:
        env = server_env(base, redis_url)
        idle_total = max([int(x) for x in args.idle.split(",")] or [0]) + 20 if args.idle else 20
        data = load_data(env, pairs=args.pairs, fanout=args.fanout, idle=idle_total)
        results = asyncio.run(run(args, env, data))
        figures = summary(results)
        print(json.dumps(figures, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        if not args.keep:
            drop_database(base)


if __name__ == "__main__":
    main()
