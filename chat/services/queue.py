"""Queue position (DESIGN.md §11, docs/desk.md): where a waiting visitor stands in line.

The queue of an inbox: its conversations that are open, unassigned and waiting
(``waiting_since`` set: the visitor wrote and nobody answered yet), oldest ``waiting_since``
first (then id). A visitor in it receives the ephemeral ``queue.updated {conversation_id,
position, expected_wait_seconds}`` (widget only: sent to its contact inbox's group, which no
operator socket joins) when its conversation enters the queue, on connect, and whenever its
position changes; ``position: null`` once it leaves the queue (assigned, answered, resolved), so
the widget hides the line.

Cost: changes to an inbox's queue (``queue_changed``, after commit) recompute every position of
that inbox in ONE query and send a frame only to the visitors whose position (or estimate)
changed since the last frame, remembered in the shared store. Recomputations of one inbox are
serialized across processes by a short lock in the shared store; a change that arrives while
one runs marks the inbox dirty and the running one goes again, so the last frame each visitor
gets always reflects the latest committed state, whichever process computed it.

``expected_wait_seconds``: the median first-response time (first operator reply − creation) of
the inbox's conversations answered in the last 24 hours (at most the newest 200), times the
position; null without such data. Cached QUEUE_ESTIMATE_CACHE_SECONDS per inbox.
"""
from __future__ import annotations

import json
import logging
import statistics
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, Subquery
from django.utils import timezone

from chat.event_types import EphemeralType, EventType, QueuePayload
from chat.events import PublishedEvent, contact_inbox_group, notify_group
from chat.models import Conversation, ConversationStatus
from chat.services.typing import EPHEMERAL_MESSAGE_TYPE
from chat.store import get_store

logger = logging.getLogger(__name__)

QUEUE_MAX = 1_000  # positions beyond this are not announced (the query is bounded)
QUEUE_ESTIMATE_WINDOW = timedelta(hours=24)
QUEUE_ESTIMATE_SAMPLE = 200
QUEUE_ESTIMATE_CACHE_SECONDS = 60
_SENT_TTL = 24 * 3600
_LOCK_TTL = 30
_MAX_ROUNDS = 20


def _waiting_q(inbox_id: int) -> Q:
    return Q(inbox_id=inbox_id, status=ConversationStatus.OPEN, assignee__isnull=True, waiting_since__isnull=False)


def median_first_response_seconds(*, inbox_id: int) -> float | None:
    """Median first-response time of the inbox's recent conversations (cached), or None."""
    key = f"queue:frt:{inbox_id}"
    cached = cache.get(key)
    if cached is not None:
        return None if cached == "none" else float(cached)
    since = timezone.now() - QUEUE_ESTIMATE_WINDOW
    rows = (
        Conversation.objects.filter(inbox_id=inbox_id, first_reply_created_at__gte=since)
        .order_by("-first_reply_created_at")
        .values_list("created_at", "first_reply_created_at")[:QUEUE_ESTIMATE_SAMPLE]
    )
    samples = [max(0.0, (replied - created).total_seconds()) for created, replied in rows if replied is not None]
    value = statistics.median(samples) if samples else None
    cache.set(key, "none" if value is None else value, QUEUE_ESTIMATE_CACHE_SECONDS)
    return value


def _estimate(median: float | None, position: int) -> int | None:
    return None if median is None else round(median * position)


def queue_frame(conversation_id: int, position: int | None, expected_wait_seconds: int | None) -> dict[str, Any]:
    data: QueuePayload = {
        "conversation_id": conversation_id, "position": position, "expected_wait_seconds": expected_wait_seconds,
    }
    return {"type": str(EphemeralType.QUEUE_UPDATED), "conversation_id": conversation_id, "data": data}


def queue_status(*, conversation: Conversation | None) -> dict[str, Any] | None:
    """The ``queue.updated`` data for one conversation now (on connect), or None when it is not
    waiting in line. One count query (plus the cached estimate)."""
    if (
        conversation is None
        or conversation.status != ConversationStatus.OPEN
        or conversation.assignee_id is not None
        or conversation.waiting_since is None
    ):
        return None
    # Compared with the stored value, not the Python one: SQLite keeps the database clock's time
    # as text with milliseconds, and "…01.123" sorts before the parameter "…01.123000".
    mine = Subquery(Conversation.objects.filter(pk=conversation.pk).values("waiting_since")[:1])
    ahead = Conversation.objects.filter(_waiting_q(conversation.inbox_id)).filter(
        Q(waiting_since__lt=mine) | Q(waiting_since=mine, pk__lt=conversation.pk)
    ).count()
    position = ahead + 1
    median = median_first_response_seconds(inbox_id=conversation.inbox_id)
    return dict(queue_frame(conversation.pk, position, _estimate(median, position))["data"])


# --- Recompute after a change ----------------------------------------------------------------


def _sent_key(inbox_id: int) -> str:
    return f"queue:sent:{inbox_id}"


def queue_changed(*, inbox_id: int) -> None:
    """The inbox's queue may have changed: recompute and tell the waiting visitors after the
    current transaction commits (now outside one). Never raises into the caller's change."""
    transaction.on_commit(lambda: _refresh_safely(inbox_id))


def _refresh_safely(inbox_id: int) -> None:
    try:
        queue_refresh(inbox_id=inbox_id)
    except Exception:  # positions are advisory: a failure must not break the committed change
        logger.warning("queue refresh failed for inbox %s", inbox_id, exc_info=True)


def queue_refresh(*, inbox_id: int) -> None:
    """Recompute the inbox's positions and send the changed ones, serialized per inbox."""
    store = get_store()
    lock, dirty = f"queue:lock:{inbox_id}", f"queue:dirty:{inbox_id}"
    if not store.acquire(lock, _LOCK_TTL):
        # Someone is computing: ask them to go again, unless they finished in between.
        store.set(dirty, "1", ttl=_LOCK_TTL)
        if not store.acquire(lock, _LOCK_TTL):
            return
    rounds = 0
    while True:
        try:
            while True:
                store.delete(dirty)
                _publish_positions(inbox_id)
                rounds += 1
                # Bounded: under a storm of changes one caller does not work for all of them
                # forever; the changes still coming recompute after it.
                if store.get(dirty) is None or rounds >= _MAX_ROUNDS:
                    break
        finally:
            store.delete(lock)
        # A change marked dirty after our last look and found the lock still held: take it back.
        if rounds >= _MAX_ROUNDS or store.get(dirty) is None or not store.acquire(lock, _LOCK_TTL):
            return


def _publish_positions(inbox_id: int) -> None:
    store = get_store()
    waiting = list(
        Conversation.objects.filter(_waiting_q(inbox_id))
        .order_by("waiting_since", "id")
        .values_list("id", "contact_inbox_id")[:QUEUE_MAX]
    )
    try:
        before: dict[str, Any] = json.loads(store.get(_sent_key(inbox_id)) or "{}")
    except ValueError:
        before = {}
    median = median_first_response_seconds(inbox_id=inbox_id) if waiting else None
    now: dict[str, Any] = {}
    for index, (conversation_id, contact_inbox_id) in enumerate(waiting):
        assert contact_inbox_id is not None  # every conversation has its visitor
        position = index + 1
        estimate = _estimate(median, position)
        entry = [position, estimate, contact_inbox_id]
        now[str(conversation_id)] = entry
        if before.get(str(conversation_id)) != entry:
            _send(contact_inbox_id, queue_frame(conversation_id, position, estimate))
    for key, sent in before.items():
        if key not in now and isinstance(sent, list) and len(sent) == 3:
            _send(int(sent[2]), queue_frame(int(key), None, None))  # left the queue
    if now:
        store.set(_sent_key(inbox_id), json.dumps(now, separators=(",", ":")), ttl=_SENT_TTL)
    elif before:
        store.delete(_sent_key(inbox_id))


def _send(contact_inbox_id: int, frame: dict[str, Any]) -> None:
    notify_group(contact_inbox_group(contact_inbox_id),
                 {"type": EPHEMERAL_MESSAGE_TYPE, "frame": frame, "exclude_channel": None})


def queue_was_announced(*, inbox_id: int, conversation_id: int) -> bool:
    """Whether the conversation had a position in the last frames sent (a store read, no query)."""
    raw = get_store().get(_sent_key(inbox_id)) or ""
    return f'"{conversation_id}":' in raw


# --- Which committed changes can move the queue (registered in chat.apps.ready) ---------------


def on_event(event: PublishedEvent) -> None:
    """Reaction to durable events: recompute only when the event can change the inbox's queue,
    decided from the event and at most one store read (no query on the hot paths):

    * ``assignee.changed`` to nobody (the conversation may join the queue), or to someone for a
      conversation that had a position (it leaves);
    * ``conversation.status_changed`` of an unassigned conversation to ``open`` (it may join), or
      of one that had a position (it leaves);
    * ``first_reply.created`` / ``reply.created`` of a conversation that had a position (an
      answer ends the wait).

    A conversation without a position that gets assigned, resolved or answered changes nobody's
    place: nothing is computed (a storm of auto-assignments of conversations nobody waits on
    costs one store read each). A visitor's message that makes a conversation wait (a new one,
    or one whose wait had ended) calls ``queue_changed`` from the message service, which alone
    knows that without a query."""
    if event.inbox_id is None or event.conversation_id is None:
        return
    kind = event.type
    if kind == EventType.FIRST_REPLY_CREATED:  # a new sample for the estimate
        cache.delete(f"queue:frt:{event.inbox_id}")
    payload = event.payload or {}
    if kind == EventType.ASSIGNEE_CHANGED and payload.get("assignee") is None:
        may_join = True
    elif kind == EventType.CONVERSATION_STATUS_CHANGED:
        if payload.get("assignee") is not None:
            return
        may_join = payload.get("status") == ConversationStatus.OPEN
    else:
        may_join = False
    if may_join or queue_was_announced(inbox_id=event.inbox_id, conversation_id=event.conversation_id):
        _refresh_safely(event.inbox_id)


QUEUE_EVENT_TYPES: set[str] = {
    EventType.ASSIGNEE_CHANGED, EventType.CONVERSATION_STATUS_CHANGED, EventType.FIRST_REPLY_CREATED,
    EventType.REPLY_CREATED,
}
