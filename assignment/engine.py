"""The moving parts the assignment services share: loads, the capacity lock, the reservation of
an operator in turn, and the write with its activity line and events (assignment/services.py
explains the locking)."""
from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from assignment.policy import Candidate, eligible_user_ids, has_capacity
from assignment.rate_limiter import AssignmentRateLimiter
from assignment.round_robin import RoundRobinQueue
from chat.events import EventType
from chat.models import Audience, Conversation, ConversationOffer, ConversationStatus, Inbox, InboxMember, OfferState
from chat.payloads import user_summary
from chat.services.assignee import conversation_write_assignee
from chat.services.conversations import conversation_emit
from chat.services.inboxes import inbox_member_hold
from presence.policy import ONLINE

User = get_user_model()


def load_user(user_id: int) -> Any:
    return User.objects.select_related("operator_profile").get(pk=user_id)


def operator_name(user: Any) -> str:
    return str((user_summary(user) or {}).get("name", "someone"))


def is_member(inbox_id: int, user_id: int) -> bool:
    """Whether the operator is an active member of the inbox."""
    return InboxMember.objects.filter(inbox_id=inbox_id, user_id=user_id, user__is_active=True).exists()


def open_count(user_id: int, inbox_id: int, *, except_offer_of: int | None = None) -> int:
    """The operator's load in the inbox: open conversations assigned to them plus offers ringing
    for them (ring mode: an offer in flight holds a slot until it ends). ``except_offer_of``:
    a conversation about to be assigned to them, whose own offer must not count twice."""
    return open_counts(inbox_id, [user_id], except_offer_of=except_offer_of).get(user_id, 0)


def open_counts(inbox_id: int, user_ids: list[int], *, except_offer_of: int | None = None) -> dict[int, int]:
    """``open_count`` for many operators, in one statement (two grouped counts, UNION ALL;
    plain SQL, the same on PostgreSQL and SQLite: it runs on every pick, and Django would
    compile two querysets and their union each time)."""
    if not user_ids:
        return {}
    quote = connection.ops.quote_name
    marks = ", ".join(["%s"] * len(user_ids))
    not_this = " AND conversation_id <> %s" if except_offer_of is not None else ""
    sql = (
        f"SELECT assignee_id, COUNT(*) FROM {quote(Conversation._meta.db_table)} "
        f"WHERE inbox_id = %s AND status = %s AND assignee_id IN ({marks}) GROUP BY assignee_id "
        f"UNION ALL SELECT user_id, COUNT(*) FROM {quote(ConversationOffer._meta.db_table)} "
        f"WHERE inbox_id = %s AND state = %s AND user_id IN ({marks}){not_this} GROUP BY user_id"
    )
    params: list[Any] = [inbox_id, str(ConversationStatus.OPEN), *user_ids, inbox_id, str(OfferState.PENDING), *user_ids]
    if except_offer_of is not None:
        params.append(except_offer_of)
    counts: dict[int, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for user_id, n in cursor.fetchall():
            counts[user_id] = counts.get(user_id, 0) + n
    return counts


def lock_operator(user_id: int) -> Any | None:
    """Serialize capacity decisions for one operator until the (sub)transaction ends. Returns
    the operator's user with their profile (read with the lock: an activity line names them, the
    payloads show them), or None if there is no such user."""
    return (
        User.objects.select_for_update(no_key=True, of=("self",)).select_related("operator_profile")
        .filter(pk=user_id).first()
    )


def apply_assignee(conversation: Conversation, new_assignee_id: int | None, *, activity: str | dict[str, Any]) -> Conversation:
    """Write the new assignee with its activity line and events (chat owns the write)."""
    return conversation_write_assignee(conversation=conversation, assignee_id=new_assignee_id, activity=activity)


def reserve_operator(
    conversation: Conversation,
    *,
    inbox: Inbox,
    queue: RoundRobinQueue,
    statuses: dict[int, str],
    limiter: AssignmentRateLimiter | None,
    now: float,
    require_member: bool = True,
    exclude: frozenset[int] = frozenset(),
) -> Any | None:
    """Pick the next operator in turn among the eligible and reserve a slot with them (capacity
    recounted under their lock, rate admission recorded); returns their user (with profile,
    read with the lock), or None when nobody qualifies.

    The first filter uses counts read without locks (cheap, usually right); the lock then
    confirms. Counts only grow while others assign, so an operator the filter saw full is full.
    Without a capacity (``max_assignment_limit`` null) there is nothing to count.
    ``exclude``: operators skipped for this pick (ring mode: they declined it this round).
    """
    online = [uid for uid, status in statuses.items() if status == ONLINE and uid not in exclude]
    if not online:
        return None
    capacity = inbox.max_assignment_limit
    loads = open_counts(inbox.pk, online) if capacity is not None else {}
    recent = limiter.counts(online, now=now) if limiter else {}
    candidates = [
        Candidate(user_id=uid, status=statuses[uid], open_count=loads.get(uid, 0), recent_assignments=recent.get(uid, 0))
        for uid in online
    ]
    eligible = set(eligible_user_ids(candidates, capacity=capacity, rate_limit=limiter.limit if limiter else None))
    while eligible:
        pick = queue.pick(eligible)
        if pick is None:
            return None
        eligible.discard(pick)
        savepoint = transaction.savepoint()
        user = lock_operator(pick)
        # Still a member, and kept so until commit: a removal from the inbox waits for us, or
        # we see it (chat/services/inboxes.py ``inbox_member_hold``).
        if user is None or (require_member and not inbox_member_hold(inbox_id=inbox.pk, user_id=pick)):
            transaction.savepoint_rollback(savepoint)
            continue
        if capacity is not None and not has_capacity(
            open_count=open_count(pick, inbox.pk, except_offer_of=conversation.pk), capacity=capacity
        ):
            transaction.savepoint_rollback(savepoint)  # releases the operator's lock at once
            continue
        if limiter is not None and not limiter.record(pick, token=f"{conversation.pk}:{uuid.uuid4().hex}", now=now):
            transaction.savepoint_rollback(savepoint)
            continue
        # Reserved. The savepoint is left to the transaction's end rather than released: a
        # RELEASE would be one more statement and changes nothing (the locks stay either way,
        # and a rollback of the transaction or of an enclosing savepoint undoes it as well).
        return user
    return None


def emit_updated(conversation_id: int) -> Conversation:
    """``conversation.updated`` with the conversation as it is now."""
    return conversation_emit(EventType.CONVERSATION_UPDATED, conversation_id, audience=Audience.EVERYONE)
