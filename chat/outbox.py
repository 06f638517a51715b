"""The event outbox: insert, release, watermark (docs/realtime.md, "late commits").

Everything that decides *when* an outbox row may be read lives here, with one window and one
"held back" predicate:

* ``outbox_insert_all(rows)`` writes Events in the caller's transaction (``chat.events.dispatch``
  and ``dispatch_all`` are its only callers), in one statement however many rows. Event ids
  come from a sequence before commit, so a lower id can commit after a higher one is visible.
  On PostgreSQL each row goes through ``chat_event_insert()`` (migration 0009_lean; several
  rows through ``chat_event_insert_many()``, 0012_lean, which calls it for each), which makes
  the row's ``xmin`` an xid assigned after its id, the transaction's own xid having been
  assigned before the id: every transaction that took a lower id earlier therefore has an xid
  below the row's ``xmin``.
* ``read_released(after_id)``: the rows after a cursor that may be delivered, in id order, and
  the new cursor. A row is *held back* while, in the snapshot that reads it, a transaction of
  this database with an xid below the row's ``xmin`` is still running; delivery stops at the
  first held-back row.
* ``watermark()``: the newest id such that every event at or below it that will ever exist is
  visible in the current snapshot. Snapshots (REST ``last_event_id``, through
  ``chat.selectors.snapshot.snapshot_read``) and a starting hub use it.

On SQLite there is one writer at a time: ids are allocated in commit order, nothing is held back.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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

_INSERT_SQL = "SELECT event_id, event_created_at FROM chat_event_insert(%s, %s, %s, %s, %s, %s, %s)"
# Several events of one change: chat_event_insert() for each, in order, in one round trip
# (migration 0012_lean).
_INSERT_MANY_SQL = (
    "SELECT new_id, new_created_at FROM chat_event_insert_many(%s::varchar[], %s::bigint[], %s::bigint[], "
    "%s::bigint[], %s::bigint[], %s::varchar[], %s::text[]::jsonb[])"
)


def outbox_insert(row: Event) -> None:
    """Write ``row`` in the current transaction: one statement, no read of other sessions.

    What used to be read here (the transactions running once the id was allocated, from
    ``pg_stat_activity``, three statements per event) is now decided by the reader from the
    row's ``xmin`` (see the module docstring)."""
    outbox_insert_all([row])


def outbox_insert_all(rows: Sequence[Event]) -> None:
    """Write ``rows`` in the current transaction, in this order (ascending ids), in one
    statement: the events of one change (an assignment has three). On PostgreSQL each row
    goes through ``chat_event_insert()`` as if inserted alone, so the late-commit guarantee of
    the module docstring holds for each of them."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        # SQLite has one writer at a time: ids are allocated in commit order already.
        if len(rows) == 1:
            rows[0].save(force_insert=True)
        else:
            Event.objects.bulk_create(rows)  # one INSERT … RETURNING id, created_at
        return
    if len(rows) == 1:
        row = rows[0]
        payload = Event._meta.get_field("payload").get_db_prep_save(row.payload, connection)
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_SQL, [row.type, row.inbox_id, row.conversation_id, row.contact_inbox_id, row.user_id,
                                         row.audience, payload])
            row.id, row.created_at = cursor.fetchone()
    else:
        # The payloads as JSON text, as the JSONField writes them (no custom encoder).
        columns: list[Any] = [[r.type for r in rows], [r.inbox_id for r in rows], [r.conversation_id for r in rows],
                   [r.contact_inbox_id for r in rows], [r.user_id for r in rows], [r.audience for r in rows],
                   [json.dumps(r.payload) for r in rows]]
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_MANY_SQL, columns)
            written = cursor.fetchall()
        assert len(written) == len(rows)
        for row, (event_id, created_at) in zip(rows, written, strict=True):
            row.id, row.created_at = event_id, created_at
    for row in rows:
        row._state.adding = False
        row._state.db = connection.alias


# --- Held back ------------------------------------------------------------------------------------

# Held back = a transaction running *in the snapshot that reads the row* has an xid below the
# row's xmin, and is not known to belong to another database. Running transactions come from the
# snapshot itself (its xip: every running xid below its xmax, and a visible row's xmin is below
# that), so a transaction that commits while the statement runs still holds the row back in
# this read; asked a moment later (a second statement), it would count as finished while its
# event, absent from the rows already read, would be skipped for good. xids are cluster-wide:
# transactions of other databases, recognised through pg_stat_activity (read once per
# statement, and only when some running xid is below a row's xmin), never hold our events; one
# that has just ended counts as ours for this read (the safe side). In a REPEATABLE READ
# transaction pg_current_snapshot() is the transaction's snapshot, so the same predicate gives a
# snapshot's watermark.
#
# The row's xmin has 32 bits: it is widened to an xid8 with the epoch of the snapshot's xmax (a
# visible row's xmin lies below xmax and within 2**31 of it; a frozen row reads 2: old, never
# held).
_HELD_BACK_SQL = (
    "EXISTS (SELECT 1 FROM (SELECT s, pg_snapshot_xmax(s)::text::bigint AS m FROM pg_current_snapshot() AS s) AS snap "
    "CROSS JOIN LATERAL pg_snapshot_xip(snap.s) AS r(x) "
    f'CROSS JOIN LATERAL (SELECT snap.m - mod(snap.m, 4294967296) + "{Event._meta.db_table}".xmin::text::bigint AS c) AS w '
    "WHERE r.x::text::bigint < (CASE WHEN w.c > snap.m THEN w.c - 4294967296 ELSE w.c END) "
    "AND mod(r.x::text::bigint, 4294967296) NOT IN (SELECT a.backend_xid::text::bigint FROM pg_stat_activity AS a "
    "WHERE a.backend_xid IS NOT NULL AND a.datname IS DISTINCT FROM current_database()))"
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
