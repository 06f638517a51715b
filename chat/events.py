"""Durable events: types declared once, the outbox dispatcher, group names.

``dispatch()`` writes an Event row in the caller's transaction. After the transaction commits
the event is handed to in-process subscribers (reactions such as auto-assignment, registered in
an app's ``ready()``) and the stream is poked so that every server process reads the outbox and
delivers it to its sockets (chat/stream.py). Nothing is published for a transaction that rolls
back. Nothing else in the project publishes durable events.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from chat.models import Audience, Event

logger = logging.getLogger(__name__)


class EventType(StrEnum):
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_UPDATED = "conversation.updated"
    CONVERSATION_STATUS_CHANGED = "conversation.status_changed"
    ASSIGNEE_CHANGED = "assignee.changed"
    MESSAGE_CREATED = "message.created"
    MESSAGE_UPDATED = "message.updated"
    FIRST_REPLY_CREATED = "first_reply.created"
    REPLY_CREATED = "reply.created"
    CONVERSATION_READ = "conversation.read"
    PRESENCE_UPDATED = "presence.updated"


class EphemeralType(StrEnum):
    TYPING_STARTED = "conversation.typing_started"
    TYPING_STOPPED = "conversation.typing_stopped"


# Never delivered to a widget, whatever the audience asked for.
OPERATOR_ONLY_TYPES: frozenset[str] = frozenset(
    {EventType.ASSIGNEE_CHANGED, EventType.FIRST_REPLY_CREATED, EventType.REPLY_CREATED}
)


# --- Group names (the only place they are spelled) --------------------------------------------

STREAM_GROUP = "stream.poke"


def inbox_group(inbox_id: int) -> str:
    """Operators of one inbox (ephemeral events such as typing)."""
    return f"inbox.{inbox_id}"


def user_group(user_id: int) -> str:
    """Every socket of one operator (membership changes, forced disconnects)."""
    return f"user.{user_id}"


def contact_inbox_group(contact_inbox_id: int) -> str:
    """Every widget socket of one visitor in one inbox."""
    return f"contact_inbox.{contact_inbox_id}"


# --- Published form ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedEvent:
    """What subscribers receive after commit: plain data, never model instances."""

    id: int
    type: str
    inbox_id: int | None
    conversation_id: int | None
    contact_inbox_id: int | None
    user_id: int | None
    audience: str
    payload: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Event) -> PublishedEvent:
        return cls(
            id=row.id,
            type=row.type,
            inbox_id=row.inbox_id,
            conversation_id=row.conversation_id,
            contact_inbox_id=row.contact_inbox_id,
            user_id=row.user_id,
            audience=row.audience,
            payload=row.payload,
        )


Subscriber = Callable[[PublishedEvent], None]
_subscribers: list[tuple[frozenset[str] | None, Subscriber]] = []


def subscribe(callback: Subscriber, *, types: set[str] | None = None) -> None:
    """Call ``callback(event)`` after commit for every event (or only ``types``).

    Subscribers run in the committing thread, after the commit, each in its own error boundary:
    a failing subscriber is logged and never undoes or blocks the change that was committed.
    """
    entry = (frozenset(types) if types else None, callback)
    if entry not in _subscribers:
        _subscribers.append(entry)


def unsubscribe(callback: Subscriber) -> None:
    _subscribers[:] = [entry for entry in _subscribers if entry[1] is not callback]


# --- Dispatch ---------------------------------------------------------------------------------


def dispatch(
    event_type: EventType | str,
    *,
    payload: dict[str, Any],
    inbox_id: int | None = None,
    conversation_id: int | None = None,
    contact_inbox_id: int | None = None,
    user_id: int | None = None,
    audience: Audience | str = Audience.OPERATORS,
) -> Event:
    """Write one durable event in the current transaction; publish it after commit.

    Must run inside ``transaction.atomic()``: the event shares the fate of the change it
    describes. Operator-only types are forced to the operators' audience.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("dispatch() must run inside transaction.atomic()")
    if str(event_type) in OPERATOR_ONLY_TYPES:
        audience = Audience.OPERATORS
    row = Event(
        type=str(event_type),
        inbox_id=inbox_id,
        conversation_id=conversation_id,
        contact_inbox_id=contact_inbox_id,
        user_id=user_id,
        audience=str(audience),
        payload=payload,
    )
    _insert(row)
    published = PublishedEvent.from_row(row)
    transaction.on_commit(lambda: _publish(published))
    # One poke per transaction, not per event. Django drops the hooks of a rolled-back
    # savepoint together with its events, so a surviving event always has a poke after it.
    if not any(hook is _poke_after_commit for _, hook, _ in connection.run_on_commit):
        transaction.on_commit(_poke_after_commit)
    return row


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


def _insert(row: Event) -> None:
    if connection.vendor != "postgresql":
        # SQLite has one writer at a time: ids are allocated in commit order already.
        row.save(force_insert=True)
        return
    # PostgreSQL: ids come from a sequence before commit, so commit order can differ from id
    # order. We record which transactions were running once our id was allocated; the stream
    # holds this event back until they have ended (docs/realtime.md). Order matters: own xid
    # first (so that every allocator is listed as running before it allocates), then the id,
    # then the list of running transactions. The list comes from pg_stat_activity because a
    # snapshot's xip omits transactions whose xid is above its xmax (latest completed + 1).
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        # A FROM-subquery with a volatile function is never pulled up: own xid comes first.
        cursor.execute(
            "SELECT own.xid::text, nextval(pg_get_serial_sequence(%s, 'id')) FROM (SELECT pg_current_xact_id() AS xid) AS own",
            [table],
        )
        own_xid, row.id = cursor.fetchone()
        if getattr(connection, "_event_activity_read_in", None) == own_xid:
            # pg_stat_activity is cached per transaction: a second event needs a fresh read.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
        connection._event_activity_read_in = own_xid
        cursor.execute(_RUNNING_XIDS_SQL)
        row.pending_xids = sorted((_full_xid(int(x), int(own_xid)) for x in cursor.fetchone()[0]), key=int)
    row.save(force_insert=True)


def _publish(event: PublishedEvent) -> None:
    for types, callback in list(_subscribers):
        if types is None or event.type in types:
            try:
                callback(event)
            except Exception:  # one subscriber's failure must not stop the others
                logger.exception("event subscriber %r failed for %s #%s", callback, event.type, event.id)


def _poke_after_commit() -> None:
    poke_stream()


def notify_group(group: str, message: dict[str, Any]) -> None:
    """Send a control message (not a durable event) to a group after the current transaction
    commits, or now outside one: e.g. ``{"type": "membership.changed"}`` to ``user_group(id)``
    so open sockets follow, ``{"type": "socket.close", "code": 4403}`` to a blocked visitor."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            try:
                async_to_sync(layer.group_send)(group, message)
            except Exception:
                logger.warning("control message to %s failed", group, exc_info=True)

    transaction.on_commit(send)


def poke_stream() -> None:
    """Wake every process's stream reader. Best effort: readers also poll (STREAM_POLL_SECONDS)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(STREAM_GROUP, {"type": "stream.poke"})
    except Exception:  # the poll catches up; a poke is only a latency optimisation
        logger.warning("stream poke failed", exc_info=True)
