"""The worker's backoff through an outage (assignment.worker.outage_backoff): bounded, growing,
jittered. The worker surviving real outages is tested live in
tests/realtime/test_outages_live.py (Redis killed, PostgreSQL cut)."""
from __future__ import annotations

from assignment.worker import WORKER_BACKOFF_MAX_SECONDS, outage_backoff


def test_backoff_grows_from_the_interval_and_stays_under_the_cap():
    for failures in range(1, 40):
        ceiling = min(WORKER_BACKOFF_MAX_SECONDS, 2.0 * 2**failures)
        for _ in range(20):
            delay = outage_backoff(failures=failures, interval=2.0)
            assert ceiling / 2 <= delay <= ceiling


def test_backoff_is_jittered():
    delays = {outage_backoff(failures=5, interval=1.0) for _ in range(50)}
    assert len(delays) > 40  # several workers do not knock on the returning service together
