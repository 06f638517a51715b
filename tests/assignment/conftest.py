from __future__ import annotations

import pytest

from presence.tracker import OnlineStatusTracker


@pytest.fixture
def tracker() -> OnlineStatusTracker:
    # Explicit thresholds: the tests below reason in these numbers, whatever the settings say.
    return OnlineStatusTracker(ttl=60, grace=5, heartbeat=20)
