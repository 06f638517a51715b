"""Reading the event outbox in a safe order (docs/realtime.md).

Event ids come from a sequence before commit, so on PostgreSQL a transaction can commit an
event with a lower id after a higher one became visible. A reader that delivered the higher id
and moved its cursor past it would lose the late one. The rule here: an event is *released*
only when every transaction that was in progress when its id was allocated has ended
(``Event.pending_xids``). Such a transaction is the only one that can still commit a lower id,
so once they have ended, everything below a released id is either visible or never will be.

Readers deliver released events in id order and keep a cursor (the last released id); resume
and snapshots use the same watermark. On SQLite there is one writer, ids are in commit order,
and every visible event is released at once.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import Max, Q, QuerySet
from django.db.models.expressions import RawSQL

from chat.events import OPERATOR_ONLY_TYPES
from chat.models import Audience, Event


@dataclass(frozen=True)
class ReleasedBatch:
    """Released events after a cursor, and the cursor to continue from."""

    events: list[Event]
    watermark: int
    more: bool  # the batch hit its limit: read again at once
    held: bool = False  # a visible event waits for a transaction to end: check again soon


def release_prefix(events: Sequence[Event], blocked_xids: set[str]) -> int:
    """How many of ``events`` (id order) may be delivered: stop at the first held-back one."""
    for index, event in enumerate(events):
        if any(x in blocked_xids for x in event.pending_xids or ()):
            return index
    return len(events)


# Held back = some transaction listed in pending_xids had not finished *in the snapshot that
# read the row*. Evaluated in the same statement as the row read: asked a moment later (a second
# statement sees a newer state), a transaction that committed in between would count as
# finished while its event, absent from the rows already read, would be skipped for good.
_HELD_BACK_SQL = (
    'EXISTS (SELECT 1 FROM jsonb_array_elements_text("chat_event"."pending_xids") AS p(x) '
    "WHERE NOT pg_visible_in_snapshot(p.x::xid8, pg_current_snapshot()))"
)


def _rows_with_holds(queryset: QuerySet[Event]) -> QuerySet[Event]:
    if connection.vendor != "postgresql":
        return queryset
    return queryset.annotate(held_back=RawSQL(_HELD_BACK_SQL, ()))


def _released_count(rows: Sequence[Event]) -> int:
    for index, row in enumerate(rows):
        if getattr(row, "held_back", False):
            return index
    return len(rows)


def read_released(after_id: int, *, limit: int = 500) -> ReleasedBatch:
    """Released events with ``id > after_id`` in id order, and the new watermark.

    The watermark is the last released id (or ``after_id``): every event at or below it that
    will ever be visible already is.
    """
    rows = list(_rows_with_holds(Event.objects.filter(id__gt=after_id).order_by("id"))[:limit])
    if not rows:
        return ReleasedBatch([], after_id, False)
    count = _released_count(rows)
    released = rows[:count]
    watermark = released[-1].id if released else after_id
    return ReleasedBatch(released, watermark, more=len(rows) == limit and count == len(rows), held=count < len(rows))


def latest_event_id() -> int:
    return Event.objects.aggregate(m=Max("id"))["m"] or 0


def stable_watermark(*, window: int = 200) -> int:
    """The newest id such that every event at or below it that will ever exist is visible.

    Snapshots (REST ``last_event_id``) use it: a client that resumes from it misses nothing.
    """
    newest = latest_event_id()
    if not newest or connection.vendor != "postgresql":
        return newest
    rows = list(_rows_with_holds(Event.objects.filter(id__gt=max(0, newest - window)).order_by("id")))
    count = _released_count(rows)
    if count == len(rows):
        return rows[-1].id if rows else newest
    return rows[count - 1].id if count else max(0, newest - window)


# --- Who may see what ----------------------------------------------------------------------


def operator_visible(queryset: QuerySet[Event], *, user_id: int, inbox_ids: Iterable[int] | None) -> QuerySet[Event]:
    """Events an operator may see: everything of their inboxes (``None``: all inboxes),
    except personal events addressed to someone else."""
    qs = queryset if inbox_ids is None else queryset.filter(inbox_id__in=list(inbox_ids))
    return qs.filter(Q(user_id__isnull=True) | Q(user_id=user_id))


def widget_visible(queryset: QuerySet[Event], *, inbox_id: int, contact_inbox_id: int) -> QuerySet[Event]:
    """Events a visitor's widget may see: audience ``everyone`` of their own conversations
    (or inbox-wide ones), never operator-only types."""
    return (
        queryset.filter(inbox_id=inbox_id, audience=Audience.EVERYONE, user_id__isnull=True)
        .filter(Q(contact_inbox_id=contact_inbox_id) | Q(contact_inbox_id__isnull=True))
        .exclude(type__in=list(OPERATOR_ONLY_TYPES))
    )


def event_visible_to_widget(event: Event, *, inbox_id: int, contact_inbox_id: int) -> bool:
    """The same rule as ``widget_visible`` for one event already in memory."""
    return (
        event.inbox_id == inbox_id
        and event.audience == Audience.EVERYONE
        and event.user_id is None
        and event.contact_inbox_id in (None, contact_inbox_id)
        and event.type not in OPERATOR_ONLY_TYPES
    )
