"""The one owner of "is this exception an outage?" (DESIGN.md §13).

An outage is PostgreSQL or Redis out of reach: the connection was refused, dropped or timed out,
the pool had no healthy connection within DB_POOL_TIMEOUT_SECONDS, the server is shutting down or
still loading. It is never the caller's fault and never an authentication failure: every
transport answers it as ``chat.errors.Unavailable`` (``unavailable``, HTTP 503, close 4503) and
the client retries with backoff.

* ``is_outage(exc)`` decides, looking through the exception's cause chain (Django wraps the
  driver's errors; our own code re-raises with ``from``);
* ``unavailable_on_outage()`` turns an outage raised inside its block into ``Unavailable`` and
  lets everything else through unchanged;
* ``as_unavailable(exc)`` is the same decision for an ``except`` clause.

What is deliberately *not* an outage: a deadlock or serialization failure (``40P01``/``40001``
are subclasses of psycopg's OperationalError, but they are about this transaction, not about the
server), a statement timeout, an integrity error, SQLite's "database is locked".
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from chat.errors import AppError, Unavailable

# PostgreSQL SQLSTATEs that mean "the server is going away or refuses sessions" (class 08 is
# "connection exception" as a whole).
_PG_OUTAGE_STATES = frozenset({
    "57P01",  # admin_shutdown (pg_terminate_backend, fast shutdown)
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now (starting up, shutting down)
    "53300",  # too_many_connections
})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _one_is_outage(exc: BaseException) -> bool:
    if isinstance(exc, Unavailable):
        return True
    # Built-in socket-level failures: refused, reset, aborted, broken pipe.
    if isinstance(exc, ConnectionError):
        return True
    # The embedded mode's SQLite: another writer held the database past the busy timeout
    # (OPTIONS "timeout"): busy, not broken; the request may be retried as after any outage.
    if isinstance(exc, sqlite3.OperationalError) and str(exc).startswith(("database is locked", "database is busy")):
        return True
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # pragma: no cover - SQLite-only installs
        psycopg = psycopg_pool = None  # type: ignore[assignment]
    if psycopg_pool is not None and isinstance(exc, psycopg_pool.PoolTimeout | psycopg_pool.PoolClosed):
        return True
    if psycopg is not None and isinstance(exc, psycopg.InterfaceError | psycopg.OperationalError):
        state = getattr(exc, "sqlstate", None)
        # No SQLSTATE: a client-side failure (connection refused, server closed the connection
        # unexpectedly, consuming input failed).
        return state is None or state.startswith("08") or state in _PG_OUTAGE_STATES
    try:
        import redis.exceptions as redis_errors
    except ImportError:  # pragma: no cover
        return False
    # BusyLoadingError (a restarted Redis loading its data) is a ConnectionError subclass.
    return isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError)


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) means PostgreSQL or Redis is out of reach."""
    from django.db import utils as db_utils

    for link in _chain(exc):
        if _one_is_outage(link):
            return True
        if isinstance(link, AppError):  # a decision (not found, bad token...), whatever led to it
            return False
        # Django's wrapper of a driver error: decided by the driver error it wraps (its cause).
        # A wrapper without a cause (SQLite's own errors) is not an outage.
        wraps_connection_error = isinstance(link, db_utils.OperationalError | db_utils.InterfaceError)
        if isinstance(link, db_utils.Error) and not wraps_connection_error:
            return False
    return False


def as_unavailable(exc: BaseException) -> Unavailable | None:
    """``Unavailable`` for an outage (``exc`` itself when it already is one), else None."""
    if isinstance(exc, Unavailable):
        return exc
    if is_outage(exc):
        error = Unavailable()
        error.__cause__ = exc
        return error
    return None


@contextmanager
def unavailable_on_outage() -> Iterator[None]:
    """Inside this block an outage surfaces as ``Unavailable``; any other error is unchanged."""
    try:
        yield
    except Unavailable:
        raise
    except Exception as exc:
        if is_outage(exc):
            raise Unavailable() from exc
        raise
