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
from chat.locales import compile_catalogues


def pytest_collection_modifyitems(config, items):
    is_pg = "DATABASE_URL" in os.environ and os.environ["DATABASE_URL"].startswith(("postgres", "pgsql"))
    has_redis = bool(os.environ.get("REDIS_URL"))
    if os.environ.get("CI") and not (is_pg and has_redis):
        # CI runs on PostgreSQL and Redis (.ci/run): a test that needs them must run, never skip.
        raise pytest.UsageError("CI needs DATABASE_URL (PostgreSQL) and REDIS_URL: tests that need them must run")
    for item in items:
        if "postgres" in item.keywords and not is_pg:
            item.add_marker(pytest.mark.skip(reason="PostgreSQL not configured (embedded mode)"))
        if "redis" in item.keywords and not has_redis:
            item.add_marker(pytest.mark.skip(reason="Redis not configured (embedded mode)"))


def pytest_configure(config):
    """This process runs up to 8 threads on DB_POOL_MAX_SIZE connections in the concurrency
    tests, each holding its connection for its whole run: they wait their turn. The production
    bound on that wait (DB_POOL_TIMEOUT_SECONDS, 3 s, then 503) is for requests, and the live
    servers keep it (tests/realtime/test_outages_live.py)."""
    # Translations compiled (bin/test does it too; a direct pytest run may come first).
    compile_catalogues()
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict):
        pool["timeout"] = max(float(pool.get("timeout", 0)), 60.0)


# Key spaces this run writes to Redis: the tests' (settings.KEY_SPACE) and the browser server's.
BROWSER_KEY_SPACE = f"browser{os.environ.get('PYTEST_XDIST_WORKER', '')}"


@pytest.fixture(scope="session", autouse=True)
def _configured_services_answer() -> Iterator[None]:
    """Fail loudly, once, when a configured Redis is unreachable (never skip). At the end of the
    session, check that the run leaves no Redis key behind without an expiry."""
    if not settings.REDIS_URL:
        yield
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3, decode_responses=True)
    client.ping()
    yield
    from chat.store import get_store

    get_store().flush()  # what the last test wrote (each test flushes what the previous one did)
    leftovers = redis_keys_without_expiry(client)
    assert not leftovers, f"keys left in Redis without an expiry: {sorted(leftovers)[:20]}"


@pytest.fixture(scope="session", autouse=True)
def _test_database_released(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Before pytest-django drops the test database, end this process's sessions on it.

    The pool closes its idle connections, but a connection checked out in a context that ended
    without returning it (an async test's asgiref sync thread, Channels' consumer tasks cancelled
    at the test's end) stays open, and DROP DATABASE then fails ("being accessed by other
    users"), a warning that is an error here. Live servers, workers and helper threads have all
    been stopped by now (their fixtures end first), so every remaining session is this process's.
    """
    yield
    if not settings.DATABASE_IS_POSTGRES:
        return
    import psycopg
    from django.db import connection

    db = connection.settings_dict
    if not db["NAME"].startswith("test_"):  # no collected test needed a database: none was made
        return
    connection.close()
    connection.close_pool()
    # A connection of our own, outside the pool (asking through the pool would open it again).
    with django_db_blocker.unblock(), psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or None,
        password=db["PASSWORD"] or None, dbname=db["NAME"], autocommit=True,
    ) as own:
        own.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def redis_keys_without_expiry(client) -> list[str]:
    """Keys of this run's key spaces without a TTL, and keys outside every test key space
    (something wrote without the prefix, e.g. a channel layer without its ``prefix``). Other
    xdist workers' key spaces share the base prefix and are theirs to check."""
    base = os.environ.get("SHARED_STORE_PREFIX", "msg")
    found = []
    for key in client.scan_iter(count=1000):
        ours = key.startswith((f"{settings.KEY_SPACE}:", f"{BROWSER_KEY_SPACE}:"))
        foreign = not key.startswith((base, "browser"))
        if (ours or foreign) and client.ttl(key) == -1:
            found.append(key)
    return found


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
    insert, notify = chat.events.outbox_insert_all, chat.events.notify_group

    def checked_insert(rows):
        for row in rows:
            try:
                check_event(row.type, row.payload)
            except ShapeError as exc:
                mismatches.append(str(exc))
        return insert(rows)

    def checked_notify(group, message):
        try:
            check_control(message)
        except ShapeError as exc:
            mismatches.append(f"control message to {group}: {exc}")
        return notify(group, message)

    monkeypatch.setattr(chat.events, "outbox_insert_all", checked_insert)
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


@pytest.fixture(autouse=True)
def _no_language_left_active():
    """Each test starts in the server's language: a test (or a view or socket it drove in this
    thread) that activated another one must not leak it into the next test."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()
