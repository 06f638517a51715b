"""The clock presence and assignment read when no ``now`` is given.

One function so that tests can hold time still (reactions that run after commit read it too,
and must agree with the test's explicit ``now``).
"""
from __future__ import annotations

import time


def now() -> float:
    """Seconds since the epoch."""
    return time.time()
