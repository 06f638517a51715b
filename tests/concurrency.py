"""Running test code in real threads, released at the same moment (concurrency tests)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def run_concurrently(worker: Callable[[int], Any], count: int, *, join_timeout: float = 240) -> list[Any]:
    """Run ``worker(i)`` in ``count`` threads released by one barrier; each result, or the
    exception it raised (the test asserts on them). Each thread closes its connections."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = worker(index)
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=join_timeout)
    return results
