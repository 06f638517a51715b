"""Where an idle widget socket's memory goes (docs/benchmarks.md, "Capacity").

    .venv/bin/python bench/socket_memory.py [--sockets 2000] [--top 25]

Starts one daphne process under ``tracemalloc`` (a wrapper installs a SIGUSR1 handler that
writes a snapshot, then runs daphne's own command line), connects 20 warm-up widget sockets,
takes a snapshot, connects ``--sockets`` more authenticated widget sockets (as bench/relay.py's
idle phase does), takes another, and prints the difference grouped by the line that allocated
(and by file): bytes per socket, count of blocks per socket. The RSS growth per socket is
printed beside it. tracemalloc sees Python allocations only (not the C buffers of the OS or of
OpenSSL); what it cannot see is the difference between the two totals.

Needs PostgreSQL (BENCH_PG) and Redis (BENCH_REDIS), like bench/relay.py.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def serve(port: int, snapshot_dir: str) -> None:
    """The server side: daphne with a snapshot on SIGUSR1 (run under ``-X tracemalloc=N``)."""
    counter = iter(range(1_000_000))

    def dump(signum: int, frame: object) -> None:
        path = Path(snapshot_dir) / f"snap-{next(counter)}.pickle"
        tracemalloc.take_snapshot().dump(str(path))
        path.with_suffix(".done").write_text("ok")

    signal.signal(signal.SIGUSR1, dump)
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(["-b", "127.0.0.1", "-p", str(port), "project.asgi:application"])


async def measure(args: argparse.Namespace, env: dict[str, str], data: Any) -> None:
    import psutil

    from bench.relay import (
        free_port,
        gather_limited,
        widget_ws,
    )

    snapshots = Path(tempfile.mkdtemp(prefix="socket-memory-"))
    proc = None
    try:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-X", f"tracemalloc={args.frames}", __file__, "--serve", str(port),
                                 str(snapshots)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        url = f"ws://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                ws = await widget_ws(url, data.idle_visitors[0])
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                await asyncio.sleep(0.2)
        warm = [ws] + [await widget_ws(url, t) for t in data.idle_visitors[1:20]]

        async def snapshot(index: int) -> tracemalloc.Snapshot:
            await asyncio.sleep(1.0)  # let the server settle (handshakes done, timers armed)
            assert proc is not None
            proc.send_signal(signal.SIGUSR1)
            done = snapshots / f"snap-{index}.done"
            while not done.exists():
                await asyncio.sleep(0.1)
            return tracemalloc.Snapshot.load(str(snapshots / f"snap-{index}.pickle"))

        rss_before = psutil.Process(proc.pid).memory_info().rss
        before = await snapshot(0)
        sockets = await gather_limited([widget_ws(url, t) for t in data.idle_visitors[20 : 20 + args.sockets]])
        after = await snapshot(1)
        rss_after = psutil.Process(proc.pid).memory_info().rss
        n = len(sockets)
        if args.frames > 1:  # where the biggest growths come from, with their callers
            for stat in after.compare_to(before, "traceback")[: args.top]:
                print(f"--- {stat.size_diff / n:.0f} bytes, {stat.count_diff / n:.1f} blocks per socket")
                for frame in stat.traceback.format(most_recent_first=True)[::2][: args.frames]:
                    print("   ", frame.strip().split("site-packages/")[-1])
        stats = after.compare_to(before, "lineno")
        traced = sum(s.size_diff for s in stats)
        print(f"{n} idle widget sockets: RSS +{(rss_after - rss_before) / n / 1024:.1f} KiB each "
              f"(under tracemalloc), Python allocations +{traced / n / 1024:.2f} KiB each")
        print("\n| bytes per socket | blocks per socket | allocated at |\n|---:|---:|---|")
        for stat in stats[: args.top]:
            frame = stat.traceback[0]
            where = frame.filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
            print(f"| {stat.size_diff / n:.0f} | {stat.count_diff / n:.1f} | {where}:{frame.lineno} |")
        print("\n| bytes per socket | file |\n|---:|---|")
        for stat in after.compare_to(before, "filename")[: args.top]:
            where = stat.traceback[0].filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
            print(f"| {stat.size_diff / n:.0f} | {where} |")
        await gather_limited([w.close() for w in sockets + warm], limit=500)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--frames", type=int, default=1, help="traceback depth kept by tracemalloc")
    args = parser.parse_args()
    from bench.relay import drop_database, load_data, recreate_database, server_env

    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    redis_url = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/2")
    recreate_database(base)
    try:
        env = server_env(base, redis_url)
        data = load_data(env, pairs=1, fanout=1, idle=args.sockets + 20)  # synchronous: before the loop
        asyncio.run(measure(args, env, data))
    finally:
        drop_database(base)


if __name__ == "__main__":
    main()
