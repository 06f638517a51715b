"""Auto-assignment triggers, as subscriptions to the dispatcher's events (registered in
AssignmentConfig.ready()), so that every entry point (socket, REST, admin, worker) triggers
them without repeating them:

* ``conversation.created`` unassigned and open → auto-assign it (it waits if nobody is free);
* ``conversation.status_changed`` to open and unassigned (reopened, snooze ended) → auto-assign
  it; to open with an assignee who is no longer an active member of the inbox (removed or
  deactivated while it was resolved) → release it (its ``assignee.changed`` then serves it);
  away from open with an assignee (resolved, pending, snoozed) → the assignee freed
  capacity: serve the inbox's waiting conversations;
* ``assignee.changed`` to nobody (unassigned, released) → serve the inbox's waiting ones,
  that conversation included;
* ``presence.updated`` to online (came online, busy → online) → serve that inbox;
* the notice ``inbox.members_changed`` (chat/notices.py: no client needs an event for it) →
  rebuild the inbox's rotation and serve it (chat already released what removed members held).

Subscribers run after commit in the committing thread; each reaction opens its own
transactions. Reactions triggered by a reaction's own events are queued and run after it, in
the same thread, instead of nesting (no recursion however long the chain).
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from chat.events import EventType, PublishedEvent, subscribe
from chat.models import ConversationStatus
from chat.notices import Notice, NoticeType, listen
from presence.policy import ONLINE

logger = logging.getLogger(__name__)

_local = threading.local()

TRIGGER_TYPES = {
    EventType.CONVERSATION_CREATED,
    EventType.CONVERSATION_STATUS_CHANGED,
    EventType.ASSIGNEE_CHANGED,
    EventType.PRESENCE_UPDATED,
}


def reaction_for(event: PublishedEvent) -> Callable[[], object] | None:
    """What to do about one published event (None: nothing)."""
    from assignment.services import auto_assign_conversation, release_if_assignee_left, serve_waiting

    data = event.payload or {}
    inbox_id, conversation_id = event.inbox_id, event.conversation_id
    if inbox_id is None:
        return None
    if event.type in (EventType.CONVERSATION_CREATED, EventType.CONVERSATION_STATUS_CHANGED):
        if conversation_id is None:
            return None
        status, assignee = data.get("status"), data.get("assignee")
        if status == ConversationStatus.OPEN and assignee is None:
            return lambda: auto_assign_conversation(conversation_id=conversation_id)
        if event.type == EventType.CONVERSATION_STATUS_CHANGED and status == ConversationStatus.OPEN and assignee:
            return lambda: release_if_assignee_left(conversation_id=conversation_id)
        if event.type == EventType.CONVERSATION_STATUS_CHANGED and status != ConversationStatus.OPEN and assignee:
            return lambda: serve_waiting(inbox_id=inbox_id)
        return None
    if event.type == EventType.ASSIGNEE_CHANGED:
        if data.get("assignee") is None:
            return lambda: serve_waiting(inbox_id=inbox_id)
        return None
    if event.type == EventType.PRESENCE_UPDATED:
        if data.get("user_id") is not None and data.get("status") == ONLINE:
            return lambda: serve_waiting(inbox_id=inbox_id)
    return None


def on_event(event: PublishedEvent) -> None:
    _run(reaction_for(event), f"{event.type} #{event.id}")


def on_notice(notice: Notice) -> None:
    from assignment.services import inbox_members_changed

    if notice.type == NoticeType.INBOX_MEMBERS_CHANGED and notice.inbox_id is not None:
        inbox_id = notice.inbox_id
        _run(lambda: inbox_members_changed(inbox_id=inbox_id), notice.type)


def _run(job: Callable[[], object] | None, what: str) -> None:
    if job is None:
        return
    pending: deque[Callable[[], object]] | None = getattr(_local, "pending", None)
    if pending is not None:  # inside a reaction: run after it, not nested in it
        pending.append(job)
        return
    _local.pending = pending = deque([job])
    try:
        while pending:
            next_job = pending.popleft()
            try:
                next_job()
            except Exception:  # one failed reaction must not stop the queued ones
                logger.exception("assignment reaction failed for %s", what)
    finally:
        _local.pending = None


def register() -> None:
    subscribe(on_event, types={str(t) for t in TRIGGER_TYPES})
    listen(on_notice, types={NoticeType.INBOX_MEMBERS_CHANGED})
