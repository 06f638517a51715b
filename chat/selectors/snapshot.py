"""Snapshots that a client can resume the event stream from (DESIGN.md §8).

``snapshot_read(read)`` runs ``read`` and returns its result with ``last_event_id``: an event id
such that every event at or below it is already reflected in what ``read`` saw. A client applies
the events after it (idempotently: by message id, by whole conversation payload) and ends with
what a fresh snapshot would show.

* PostgreSQL, outside a transaction: ``read`` and the watermark run in one
  ``REPEATABLE READ READ ONLY`` transaction, so they see one snapshot. The watermark
  (``chat.outbox.watermark``) is computed against that snapshot, not against the transactions'
  current status: an event whose transaction commits while we read is neither in the data nor
  at or below the watermark.
* Otherwise (SQLite, or already inside a transaction such as a test's): the watermark is read
  first (``chat.outbox.watermark``), then the data. The data may then also contain
  changes whose events come after the watermark; they are replayed and applied idempotently,
  so nothing is missed and nothing is counted twice.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import connection, transaction

from chat.outbox import watermark

T = TypeVar("T")


def snapshot_read(read: Callable[[], T]) -> tuple[T, int]:
    """Run ``read`` (which must evaluate its querysets and not write) and a matching watermark."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            position = watermark()
            result = read()
        return result, position
    position = watermark()
    return read(), position
