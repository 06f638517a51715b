"""Snapshots that a client can resume the event stream from (DESIGN.md §8).

``snapshot_read(read)`` runs ``read`` and returns its result with ``last_event_id``: an event id
such that every event at or below it is already reflected in what ``read`` saw. A client applies
the events after it (idempotently: by message id, by whole conversation payload) and ends with
what a fresh snapshot would show.

* PostgreSQL, outside a transaction: ``read`` and the watermark run in one
  ``REPEATABLE READ READ ONLY`` transaction, so they see one snapshot. The watermark is computed
  against that snapshot (``pg_visible_in_snapshot``), not against the transactions' current
  status: an event whose transaction commits while we read is neither in the data nor at or
  below the watermark.
* Otherwise (SQLite, or already inside a transaction such as a test's): the watermark is read
  first (``chat.stream.stable_watermark``), then the data. The data may then also contain
  changes whose events come after the watermark; they are replayed and applied idempotently,
  so nothing is missed and nothing is counted twice.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from django.db import connection, transaction

from chat.models import Event
from chat.stream import release_prefix, stable_watermark

T = TypeVar("T")

WATERMARK_WINDOW = 200


def snapshot_read(read: Callable[[], T]) -> tuple[T, int]:
    """Run ``read`` (which must evaluate its querysets and not write) and a matching watermark."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            watermark = _watermark_in_snapshot()
            result = read()
        return result, watermark
    watermark = stable_watermark()
    return read(), watermark


def _watermark_in_snapshot() -> int:
    """The newest event id such that every event at or below it that will ever commit is
    visible in the current (repeatable-read) snapshot."""
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        # The newest events in one round trip; the max is read in the same snapshot.
        cursor.execute(
            f"SELECT id, pending_xids FROM {table} WHERE id > (SELECT coalesce(max(id), 0) FROM {table}) - %s "
            "ORDER BY id",
            [WATERMARK_WINDOW],
        )
        # Django has psycopg hand jsonb over as text.
        rows = [
            Event(id=row_id, pending_xids=(json.loads(pending) if isinstance(pending, str) else pending) or [])
            for row_id, pending in cursor.fetchall()
        ]
    if not rows:
        return 0
    newest = rows[-1].id
    wanted = sorted({x for row in rows for x in (row.pending_xids or ())}, key=int)
    blocked: set[str] = set()
    if wanted:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT x FROM unnest(%s::text[]) AS x WHERE NOT pg_visible_in_snapshot(x::xid8, pg_current_snapshot())",
                [wanted],
            )
            blocked = {row[0] for row in cursor.fetchall()}
    count = release_prefix(rows, blocked)
    if count == len(rows):
        return newest
    return rows[count - 1].id if count else max(0, newest - WATERMARK_WINDOW)
