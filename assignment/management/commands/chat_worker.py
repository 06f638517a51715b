"""``manage.py chat_worker``: presence expiry, offline release, snooze wake-up, waiting
conversations, event pruning (assignment/worker.py). Safe to run several at once."""
from __future__ import annotations

import signal
import threading
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from assignment.worker import run_tick, run_worker


class Command(BaseCommand):
    help = "Run the background ticks (presence expiry, offline release, snoozes, waiting conversations, event pruning)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one tick and exit (tests, cron).")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between ticks (default 2).")

    def handle(self, *args: Any, **options: Any) -> None:
        interval: float = max(0.2, options["interval"])
        if options["once"]:
            self._report(run_tick(interval=interval, exclusive=False))
            return
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
        # Survives PostgreSQL and Redis outages: logs, backs off, carries on (assignment/worker.py).
        run_worker(interval=interval, stop=stopping)

    def _report(self, results: dict[str, object]) -> None:
        for name, result in results.items():
            count = len(result) if isinstance(result, (list, dict)) else result
            self.stdout.write(f"{name}: {count}")
