from __future__ import annotations

import pytest

from presence.tracker import OnlineStatusTracker


@pytest.fixture
def tracker() -> OnlineStatusTracker:
    # Explicit thresholds: the tests below reason in these numbers, whatever the settings say.
    return OnlineStatusTracker(ttl=60, grace=5, heartbeat=20)


@pytest.fixture
def clock_at_t0(monkeypatch) -> None:
    """Code that reads the clock itself (after-commit reactions, the worker) sees the tests'
    T0, however long after collection the test runs (for tests that reason in T0)."""
    from tests.presence.helpers import T0

    monkeypatch.setattr("presence.clock.now", lambda: T0)
