"""Where socket and stream code runs its synchronous database work: one place to decide.

Channels' ``database_sync_to_async`` is thread-sensitive: every call of the process runs in one
shared thread, one after another. That serializes the database work of all sockets of a process
(bench/relay.py finds the knee there; more processes scale it out). Running the calls on a thread
pool instead (``thread_sensitive=False``) was tried and measured faster, but Django's connections
then live in per-call contexts that close_old_connections() does not reach: idle PostgreSQL
sessions accumulated (tests/realtime found them at database teardown). Until that is solved
properly (a dedicated pool whose threads own their connections), the safe default stays.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async


def run_db(func: Callable[..., Any]) -> Callable[..., Any]:
    """``database_sync_to_async(func)`` (see the module docstring)."""
    return database_sync_to_async(func)
