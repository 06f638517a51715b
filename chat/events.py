"""Durable events: the outbox dispatcher and group names (types: chat/event_types.py).

``dispatch()`` writes an Event row in the caller's transaction. After the transaction commits
the event is handed to in-process subscribers (reactions such as auto-assignment, registered in
an app's ``ready()``) and the stream is poked so that every server process reads the outbox and
delivers it to its sockets (chat/outbox.py decides when a row may be read). Nothing is
published for a transaction that rolls back. Nothing else in the project publishes durable
events.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from chat.event_types import OPERATOR_ONLY_TYPES, ControlType, EphemeralType, EventType
from chat.metrics import EVENTS_WRITTEN, child
from chat.models import Audience, Event
from chat.outbox import outbox_insert_all

logger = logging.getLogger(__name__)


# --- Group names (the only place they are spelled) --------------------------------------------

STREAM_GROUP = "stream.poke"

__all__ = [
    "OPERATOR_ONLY_TYPES", "EphemeralType", "EventDraft", "EventType", "PublishedEvent", "STREAM_GROUP",
    "contact_inbox_group", "dispatch", "dispatch_all", "inbox_group", "notify_group", "poke_stream", "subscribe", "unsubscribe", "user_group",
]


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


@dataclass(frozen=True)
class EventDraft:
    """One event of a change that writes several (``dispatch_all``): ``dispatch``'s arguments."""

    type: EventType | str
    payload: dict[str, Any]
    inbox_id: int | None = None
    conversation_id: int | None = None
    contact_inbox_id: int | None = None
    user_id: int | None = None
    audience: Audience | str = Audience.OPERATORS


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
    return dispatch_all([EventDraft(event_type, payload, inbox_id, conversation_id, contact_inbox_id, user_id,
                                    audience)])[0]


def dispatch_all(drafts: Sequence[EventDraft]) -> list[Event]:
    """``dispatch`` for the events of one change, in one statement: written in this order
    (ascending ids), published after commit in this order. A change that emits several events
    collects them (``EventDraft``) and writes them together."""
    if not connection.in_atomic_block:
        raise RuntimeError("dispatch() must run inside transaction.atomic()")
    rows = [
        Event(
            type=str(draft.type),
            inbox_id=draft.inbox_id,
            conversation_id=draft.conversation_id,
            contact_inbox_id=draft.contact_inbox_id,
            user_id=draft.user_id,
            audience=str(Audience.OPERATORS if str(draft.type) in OPERATOR_ONLY_TYPES else draft.audience),
            payload=draft.payload,
        )
        for draft in drafts
    ]
    outbox_insert_all(rows)
    for row in rows:
        transaction.on_commit(partial(_publish, PublishedEvent.from_row(row)))
    # One poke per transaction, not per event. Django drops the hooks of a rolled-back
    # savepoint together with its events, so a surviving event always has a poke after it.
    # Entries are (savepoint ids, func, robust); the stubs say a pair, hence the starred tail.
    if rows and not any(hook is _poke_after_commit for _, hook, *_ in connection.run_on_commit):
        transaction.on_commit(_poke_after_commit)
    return rows


def _publish(event: PublishedEvent) -> None:
    child(EVENTS_WRITTEN, event.type).inc()  # counted once committed
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
                _group_send(layer, group, message)
            except Exception:
                logger.warning("control message to %s failed", group, exc_info=True)

    transaction.on_commit(send)


def poke_stream() -> None:
    """Wake every process's stream reader. Best effort: readers also poll (STREAM_POLL_SECONDS)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        _group_send(layer, STREAM_GROUP, {"type": str(ControlType.STREAM_POKE)})
    except Exception:  # the poll catches up; a poke is only a latency optimisation
        logger.warning("stream poke failed", exc_info=True)


# How long a send from a process without an event loop waits for the layer (then it is logged
# as failed, as a send that raised: pokes and control messages are best effort).
SEND_TIMEOUT_SECONDS = 10.0

_sender: tuple[int, asyncio.AbstractEventLoop] | None = None
_sender_lock = threading.Lock()


def _group_send(layer: Any, group: str, message: dict[str, Any]) -> None:
    """``layer.group_send`` from synchronous code.

    In a thread that serves an event loop (the server's socket and view threads:
    chat/realtime/threads.py, Channels' and Django's own), on that loop: ``async_to_sync``.
    Elsewhere (the worker, management commands, benches: no loop to go back to),
    ``async_to_sync`` would start a private event loop in a new thread for every send, and the
    Redis layer a new connection for that loop (connect, send, close: most of the cost of a
    commit's after-commit work there). Those sends go to one loop kept for the process instead,
    on a daemon thread, with its one connection."""
    # asgiref never clears what it records for a thread: a loop recorded once may be long gone.
    served = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if (served is not None and served.is_running()
            and getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid()):
        async_to_sync(layer.group_send)(group, message)
        return
    future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _sender_loop())
    future.result(timeout=SEND_TIMEOUT_SECONDS)


def _sender_loop() -> asyncio.AbstractEventLoop:
    """The process's loop for sends from threads without one (started on first use; a forked
    child starts its own)."""
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid() or _sender[1].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-sender", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]
