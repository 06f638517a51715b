"""The event outbox: insert, release, watermark (docs/realtime.md, "late commits").

Everything that decides *when* an outbox row may be read lives here, with one window and one
"held back" predicate:

* ``outbox_insert(row)`` writes an Event in the caller's transaction (``chat.events.dispatch``
  is its only caller). On PostgreSQL it records which transactions were running once the row's
  id was allocated (``pending_xids``): event ids come from a sequence before commit, so a lower
  id can commit after a higher one is visible, and only those transactions can still do that.
* ``read_released(after_id)``: the rows after a cursor that may be delivered, in id order, and
  the new cursor. A row is *held back* while a transaction of its ``pending_xids`` has not ended
  in the snapshot that reads it; delivery stops at the first held-back row.
* ``watermark()``: the newest id such that every event at or below it that will ever exist is
  visible in the current snapshot. Snapshots (REST ``last_event_id``, through
  ``chat.selectors.snapshot.snapshot_read``) and a starting hub use it.

On SQLite there is one writer at a time: ids are allocated in commit order, nothing is held back.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import Max, QuerySet
from django.db.models.expressions import RawSQL

from chat.models import Event

# How many of the newest events ``watermark()`` inspects. A transaction that holds back an event
# older than that still counts (the watermark then falls to the window's start), so the window
# only bounds the cost of the read, never its correctness.
WATERMARK_WINDOW = 200


@dataclass(frozen=True)
class ReleasedBatch:
    """Released events after a cursor, and the cursor to continue from."""

    events: list[Event]
    watermark: int
    more: bool  # the batch hit its limit: read again at once
    held: bool = False  # a visible event waits for a transaction to end: check again soon


# --- Insert -------------------------------------------------------------------------------------

_RUNNING_XIDS_SQL = (
    "SELECT coalesce(array_agg(backend_xid::text), '{}') FROM pg_stat_activity "
    "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND datname = current_database()"
)


def _full_xid(xid32: int, own_xid8: int) -> str:
    """A running transaction's 64-bit id (xid8) from its 32-bit ``backend_xid``: running ids lie
    within 2**31 of our own, which fixes the epoch (the reader compares xid8s)."""
    candidate = ((own_xid8 >> 32) << 32) | xid32
    if candidate > own_xid8 + 2**31:
        candidate -= 2**32
    elif candidate < own_xid8 - 2**31:
        candidate += 2**32
    return str(candidate)


def outbox_insert(row: Event) -> None:
    """Write ``row`` in the current transaction, recording what may still commit a lower id."""
    if connection.vendor != "postgresql":
        # SQLite has one writer at a time: ids are allocated in commit order already.
        row.save(force_insert=True)
        return
    # Order matters: own xid first (so that every allocator is listed as running before it
    # allocates), then the id, then the list of running transactions. The list comes from
    # pg_stat_activity because a snapshot's xip omits transactions whose xid is above its xmax
    # (latest completed + 1).
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        # A FROM-subquery with a volatile function is never pulled up: own xid comes first.
        cursor.execute(
            "SELECT own.xid::text, nextval(pg_get_serial_sequence(%s, 'id')) "
            "FROM (SELECT pg_current_xact_id() AS xid) AS own",
            [table],
        )
        own_xid, row.id = cursor.fetchone()
        if getattr(connection, "_event_activity_read_in", None) == own_xid:
            # pg_stat_activity is cached per transaction: a second event needs a fresh read.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
        connection._event_activity_read_in = own_xid  # type: ignore[attr-defined]
        cursor.execute(_RUNNING_XIDS_SQL)
        row.pending_xids = sorted((_full_xid(int(x), int(own_xid)) for x in cursor.fetchone()[0]), key=int)
    row.save(force_insert=True)


# --- Held back ------------------------------------------------------------------------------------

# Held back = some transaction listed in pending_xids had not finished *in the snapshot that
# read the row*. Evaluated in the same statement as the row read: asked a moment later (a second
# statement sees a newer state), a transaction that committed in between would count as
# finished while its event, absent from the rows already read, would be skipped for good. In a
# REPEATABLE READ transaction pg_current_snapshot() is the transaction's snapshot, so the same
# predicate gives a snapshot's watermark.
_HELD_BACK_SQL = (
    f'EXISTS (SELECT 1 FROM jsonb_array_elements_text("{Event._meta.db_table}"."pending_xids") AS p(x) '
    "WHERE NOT pg_visible_in_snapshot(p.x::xid8, pg_current_snapshot()))"
)


def _with_holds(queryset: QuerySet[Event]) -> QuerySet[Event]:
    if connection.vendor != "postgresql":
        return queryset
    return queryset.annotate(held_back=RawSQL(_HELD_BACK_SQL, ()))


def _released_count(rows: Sequence[Event]) -> int:
    """How many of ``rows`` (id order) may be delivered: stop at the first held-back one."""
    for index, row in enumerate(rows):
        if getattr(row, "held_back", False):
            return index
    return len(rows)


# --- Release and watermark ------------------------------------------------------------------------


def read_released(after_id: int, *, limit: int = 500) -> ReleasedBatch:
    """Released events with ``id > after_id`` in id order, and the new cursor.

    The cursor is the last released id (or ``after_id``): every event at or below it that will
    ever be visible already is.
    """
    rows = list(_with_holds(Event.objects.filter(id__gt=after_id).order_by("id"))[:limit])
    if not rows:
        return ReleasedBatch([], after_id, False)
    count = _released_count(rows)
    released = rows[:count]
    watermark = released[-1].id if released else after_id
    return ReleasedBatch(released, watermark, more=len(rows) == limit and count == len(rows), held=count < len(rows))


def latest_event_id() -> int:
    return Event.objects.aggregate(m=Max("id"))["m"] or 0


def watermark() -> int:
    """The newest id such that every event at or below it that will ever exist is visible in
    the current snapshot (in a REPEATABLE READ transaction: that transaction's snapshot).

    The newest ``WATERMARK_WINDOW`` rows and their holds are read in one statement.
    """
    if connection.vendor != "postgresql":
        return latest_event_id()
    newest_sql = f'(SELECT coalesce(max(id), 0) FROM "{Event._meta.db_table}")'
    rows = list(
        _with_holds(
            Event.objects.filter(id__gt=RawSQL(f"{newest_sql} - %s", (WATERMARK_WINDOW,))).order_by("id")
        ).only("id")
    )
    if not rows:
        return 0
    count = _released_count(rows)
    if count == len(rows):
        return rows[-1].id
    return rows[count - 1].id if count else max(0, rows[-1].id - WATERMARK_WINDOW)
