"""Fixtures shared by the whole suite.

Services are real: PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set (CI), SQLite and
the in-process store otherwise. A test that needs a production service is marked ``postgres`` or
``redis`` and skips only when that service is not configured; a configured service that does
not answer makes the session fail.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.conf import settings

from chat.events import PublishedEvent, subscribe, unsubscribe


def pytest_collection_modifyitems(config, items):
    is_pg = "DATABASE_URL" in os.environ and os.environ["DATABASE_URL"].startswith(("postgres", "pgsql"))
    has_redis = bool(os.environ.get("REDIS_URL"))
    for item in items:
        if "postgres" in item.keywords and not is_pg:
            item.add_marker(pytest.mark.skip(reason="PostgreSQL not configured (embedded mode)"))
        if "redis" in item.keywords and not has_redis:
            item.add_marker(pytest.mark.skip(reason="Redis not configured (embedded mode)"))


@pytest.fixture(scope="session", autouse=True)
def _configured_services_answer() -> None:
    """Fail loudly, once, when a configured Redis is unreachable (never skip)."""
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()


@pytest.fixture(autouse=True)
def _fresh_fast_state() -> Iterator[None]:
    """Each test starts with an empty shared store and cache (they outlive transactions).

    On Redis the cache's keys share the store's key space (settings.KEY_SPACE), so one flush of
    that prefix clears both without touching other test workers' keys (no FLUSHDB).
    """
    from django.core.cache import cache

    from chat.store import get_store

    get_store().flush()
    if not settings.REDIS_URL:
        cache.clear()
    yield


@pytest.fixture(autouse=True)
def _events_match_their_declared_types(monkeypatch) -> Iterator[None]:
    """Every durable event, ephemeral frame and control message a test dispatches is checked
    against its type in chat/event_types.py (as Zulip checks events against their schemas);
    a mismatch fails the test. Server processes started by live tests are not watched."""
    import sys

    import chat.events
    from chat.event_types import ShapeError, check_control, check_event

    mismatches: list[str] = []
    insert, notify = chat.events.outbox_insert, chat.events.notify_group

    def checked_insert(row):
        try:
            check_event(row.type, row.payload)
        except ShapeError as exc:
            mismatches.append(str(exc))
        return insert(row)

    def checked_notify(group, message):
        try:
            check_control(message)
        except ShapeError as exc:
            mismatches.append(f"control message to {group}: {exc}")
        return notify(group, message)

    monkeypatch.setattr(chat.events, "outbox_insert", checked_insert)
    # notify_group is imported by name into the modules that send control messages.
    for name, module in list(sys.modules.items()):
        if name.startswith(("chat", "presence", "assignment", "frontend", "project")):
            if getattr(module, "notify_group", None) is notify:
                monkeypatch.setattr(module, "notify_group", checked_notify)
    yield
    if mismatches:
        pytest.fail("events that do not match chat/event_types.py:\n" + "\n".join(mismatches[:20]))


class EventCapture(list):
    """Events published after commit, in order."""

    def types(self) -> list[str]:
        return [e.type for e in self]

    def of_type(self, event_type: str) -> list[PublishedEvent]:
        return [e for e in self if e.type == event_type]


@pytest.fixture
def published(transactional_db) -> Iterator[EventCapture]:
    """Capture every durable event published after commit while the test runs.

    Publication happens on real commits, so a test using it runs with real transactions.
    """
    captured = EventCapture()

    def record(event: PublishedEvent) -> None:
        captured.append(event)

    subscribe(record)
    yield captured
    unsubscribe(record)
