"""``manage.py chat_worker``: presence expiry, offline release, snooze wake-up, waiting
conversations, event pruning (assignment/worker.py). Safe to run several at once."""
from __future__ import annotations

import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from assignment.worker import run_tick


class Command(BaseCommand):
    help = "Run the background ticks (presence expiry, offline release, snoozes, waiting conversations, event pruning)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one tick and exit (tests, cron).")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between ticks (default 2).")

    def handle(self, *args, **options):
        interval: float = max(0.2, options["interval"])
        if options["once"]:
            self._report(run_tick(interval=interval, exclusive=False))
            return
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not stopping:
            started = time.monotonic()
            close_old_connections()
            run_tick(interval=interval)
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def _report(self, results):
        for name, result in results.items():
            count = len(result) if isinstance(result, (list, dict)) else result
            self.stdout.write(f"{name}: {count}")
