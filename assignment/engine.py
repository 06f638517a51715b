"""The moving parts the assignment services share: loads, the capacity lock, the reservation of
an operator in turn, and the write with its activity line and events (assignment/services.py
explains the locking)."""
from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count

from assignment.policy import ONLINE, Candidate, effective_role, eligible_user_ids, has_capacity
from assignment.rate_limiter import AssignmentRateLimiter
from assignment.round_robin import RoundRobinQueue
from chat.events import EventType, dispatch
from chat.models import Audience, Conversation, ConversationStatus, Inbox, InboxMember
from chat.payloads import conversation_payload, user_summary
from chat.services.conversations import (
    activity_add,
    conversation_emit,
    conversation_for_event,
    invalidate_operator_unread,
)

User = get_user_model()


def load_user(user_id: int) -> Any:
    return User.objects.select_related("operator_profile").get(pk=user_id)


def operator_name(user: Any) -> str:
    return (user_summary(user) or {}).get("name", "someone")


def operator_role(user: Any) -> str:
    profile = getattr(user, "operator_profile", None)
    return effective_role(role=profile.role if profile else None, is_superuser=bool(user.is_superuser))


def is_member(inbox_id: int, user_id: int) -> bool:
    return InboxMember.objects.filter(inbox_id=inbox_id, user_id=user_id).exists()


def open_count(user_id: int, inbox_id: int) -> int:
    return Conversation.objects.filter(inbox_id=inbox_id, assignee_id=user_id, status=ConversationStatus.OPEN).count()


def open_counts(inbox_id: int, user_ids: list[int]) -> dict[int, int]:
    rows = (
        Conversation.objects.filter(inbox_id=inbox_id, assignee_id__in=user_ids, status=ConversationStatus.OPEN)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["assignee_id"]: row["n"] for row in rows}


def lock_operator(user_id: int) -> None:
    """Serialize capacity decisions for one operator until the (sub)transaction ends."""
    list(User.objects.select_for_update(no_key=True).filter(pk=user_id).values_list("pk", flat=True))


def apply_assignee(conversation: Conversation, new_assignee_id: int | None, *, activity: str) -> Conversation:
    """Write the new assignee (caller holds the conversation lock), add the activity line,
    emit the events, forget both operators' cached unread totals after commit."""
    old_assignee_id = conversation.assignee_id
    Conversation.objects.filter(pk=conversation.pk).update(assignee_id=new_assignee_id)
    activity_add(conversation=conversation, content=activity)
    fresh = conversation_for_event(conversation.pk)
    common = {"inbox_id": fresh.inbox_id, "conversation_id": fresh.pk, "contact_inbox_id": fresh.contact_inbox_id}
    dispatch(EventType.ASSIGNEE_CHANGED, payload={"assignee": user_summary(fresh.assignee)}, **common)
    dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_payload(fresh), audience=Audience.EVERYONE, **common)

    def forget_unread() -> None:
        invalidate_operator_unread(old_assignee_id)
        invalidate_operator_unread(new_assignee_id)

    transaction.on_commit(forget_unread)
    return fresh


def reserve_operator(
    conversation: Conversation,
    *,
    inbox: Inbox,
    queue: RoundRobinQueue,
    statuses: dict[int, str],
    limiter: AssignmentRateLimiter | None,
    now: float,
) -> int | None:
    """Pick the next operator in turn among the eligible and reserve a slot with them (capacity
    recounted under their lock, rate admission recorded); None when nobody qualifies.

    The first filter uses counts read without locks (cheap, usually right); the lock then
    confirms. Counts only grow while others assign, so an operator the filter saw full is full.
    """
    online = [uid for uid, status in statuses.items() if status == ONLINE]
    if not online:
        return None
    loads = open_counts(inbox.pk, online)
    recent = limiter.counts(online, now=now) if limiter else {}
    candidates = [
        Candidate(user_id=uid, status=statuses[uid], open_count=loads.get(uid, 0), recent_assignments=recent.get(uid, 0))
        for uid in online
    ]
    eligible = set(
        eligible_user_ids(candidates, capacity=inbox.max_assignment_limit, rate_limit=limiter.limit if limiter else None)
    )
    while eligible:
        pick = queue.pick(eligible)
        if pick is None:
            return None
        eligible.discard(pick)
        savepoint = transaction.savepoint()
        lock_operator(pick)
        if not has_capacity(open_count=open_count(pick, inbox.pk), capacity=inbox.max_assignment_limit):
            transaction.savepoint_rollback(savepoint)  # releases the operator's lock at once
            continue
        if limiter is not None and not limiter.record(pick, token=f"{conversation.pk}:{uuid.uuid4().hex}", now=now):
            transaction.savepoint_rollback(savepoint)
            continue
        transaction.savepoint_commit(savepoint)
        return pick
    return None


def emit_updated(conversation_id: int) -> Conversation:
    """``conversation.updated`` with the conversation as it is now."""
    return conversation_emit(EventType.CONVERSATION_UPDATED, conversation_id, audience=Audience.EVERYONE)
