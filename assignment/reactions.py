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

Ring mode (assignment/offers.py):

* ``assignee.changed`` to someone, ``conversation.status_changed`` away from open → end the
  conversation's pending offer, if any (``offer_withdrawn`` to its operator);
* ``presence.updated`` to offline → end that operator's pending offers in that inbox;
* ``conversation.offer_withdrawn`` (any end but an accept) → serve the inbox: the next operator
  in turn is asked, and the slot the offer held is free;
* ``inbox.members_changed`` with members removed → end their pending offers in the inbox first;
* ``operator.deactivated`` → end that operator's pending offers (reason ``removed``);
* ``inbox.settings_changed`` → end the pending offers of an inbox that stopped ringing, serve it.

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
from presence.policy import OFFLINE, ONLINE

logger = logging.getLogger(__name__)

_local = threading.local()

TRIGGER_TYPES = {
    EventType.CONVERSATION_CREATED,
    EventType.CONVERSATION_STATUS_CHANGED,
    EventType.ASSIGNEE_CHANGED,
    EventType.PRESENCE_UPDATED,
    EventType.CONVERSATION_OFFER_WITHDRAWN,
}


def reaction_for(event: PublishedEvent) -> Callable[[], object] | None:
    """What to do about one published event (None: nothing)."""
    from assignment.offers import WithdrawReason, offer_withdraw_if_moot, offers_withdraw_for_user
    from assignment.services import auto_assign_conversation, release_if_assignee_left, serve_waiting

    data = event.payload or {}
    inbox_id, conversation_id = event.inbox_id, event.conversation_id
    if inbox_id is None:
        return None
    if event.type == EventType.CONVERSATION_OFFER_WITHDRAWN:
        return lambda: serve_waiting(inbox_id=inbox_id)
    if event.type in (EventType.CONVERSATION_CREATED, EventType.CONVERSATION_STATUS_CHANGED):
        if conversation_id is None:
            return None
        status, assignee = data.get("status"), data.get("assignee")
        if event.type == EventType.CONVERSATION_STATUS_CHANGED and status != ConversationStatus.OPEN:
            moot = _then(lambda: offer_withdraw_if_moot(conversation_id=conversation_id),
                         (lambda: serve_waiting(inbox_id=inbox_id)) if assignee else None)
            return moot
        if status == ConversationStatus.OPEN and assignee is None:
            return lambda: auto_assign_conversation(conversation_id=conversation_id)
        if event.type == EventType.CONVERSATION_STATUS_CHANGED and status == ConversationStatus.OPEN and assignee:
            return lambda: release_if_assignee_left(conversation_id=conversation_id)
        return None
    if event.type == EventType.ASSIGNEE_CHANGED:
        if data.get("assignee") is None:
            return lambda: serve_waiting(inbox_id=inbox_id)
        if conversation_id is not None:
            return lambda: offer_withdraw_if_moot(conversation_id=conversation_id)
        return None
    if event.type == EventType.PRESENCE_UPDATED:
        user_id = data.get("user_id")
        if user_id is not None and data.get("status") == ONLINE:
            return lambda: serve_waiting(inbox_id=inbox_id)
        if user_id is not None and data.get("status") == OFFLINE:
            return lambda: offers_withdraw_for_user(user_id=user_id, inbox_id=inbox_id, reason=WithdrawReason.OFFLINE)
    return None


def _then(first: Callable[[], object], second: Callable[[], object] | None) -> Callable[[], object]:
    def both() -> None:
        first()
        if second is not None:
            second()

    return both


def on_event(event: PublishedEvent) -> None:
    _run(reaction_for(event), f"{event.type} #{event.id}")


def on_notice(notice: Notice) -> None:
    from assignment.offers import WithdrawReason, offers_withdraw_for_user, offers_withdraw_if_inbox_stopped_ringing
    from assignment.services import inbox_members_changed, serve_waiting

    if notice.type == NoticeType.OPERATOR_DEACTIVATED:
        user_id = int(notice.payload["user_id"])
        _run(lambda: offers_withdraw_for_user(user_id=user_id, reason=WithdrawReason.REMOVED), notice.type)
        return
    if notice.inbox_id is None:
        return
    inbox_id = notice.inbox_id
    if notice.type == NoticeType.INBOX_MEMBERS_CHANGED:
        removed = [int(u) for u in notice.payload.get("removed", [])]

        def members_changed() -> None:
            for user_id in removed:
                offers_withdraw_for_user(user_id=user_id, inbox_id=inbox_id, reason=WithdrawReason.REMOVED)
            inbox_members_changed(inbox_id=inbox_id)

        _run(members_changed, notice.type)
    elif notice.type == NoticeType.INBOX_SETTINGS_CHANGED:

        def settings_changed() -> None:
            offers_withdraw_if_inbox_stopped_ringing(inbox_id=inbox_id)
            serve_waiting(inbox_id=inbox_id)

        _run(settings_changed, notice.type)


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
    listen(on_notice, types={NoticeType.INBOX_MEMBERS_CHANGED, NoticeType.INBOX_SETTINGS_CHANGED,
                             NoticeType.OPERATOR_DEACTIVATED})
