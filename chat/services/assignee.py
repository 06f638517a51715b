"""Writing a conversation's assignee, with its activity line and events, and releasing an
operator's conversations: the one write every assignment path uses (assignment decides *who*,
chat/services/inboxes.py and agents.py release on removal and deactivation).

The caller holds the conversation's row lock and the transaction; the events go out on commit.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from chat.activity import person
from chat.events import EventDraft, EventType, dispatch_all
from chat.models import Audience, Conversation, ConversationStatus
from chat.payloads import conversation_payload, user_summary
from chat.services.conversations import (
    activity_add,
    conversation_for_event,
    invalidate_operator_unread,
    lock_conversation,
)

User = get_user_model()


def conversation_write_assignee(
    *, conversation: Conversation, assignee_id: int | None, activity: str | dict[str, Any]
) -> Conversation:
    """Write the new assignee (caller holds the conversation lock), add the activity line
    (``chat.activity.activity_data``, or free text), emit ``assignee.changed`` and
    ``conversation.updated``, forget both operators' cached unread totals after commit."""
    old_assignee_id = conversation.assignee_id
    Conversation.objects.filter(pk=conversation.pk).update(assignee_id=assignee_id)
    # The three events of the change go out in one statement, in this order: the activity
    # line's message.created, assignee.changed, conversation.updated.
    events: list[EventDraft] = []
    if isinstance(activity, dict):
        activity_add(conversation=conversation, activity=activity, collect=events)
    else:
        activity_add(conversation=conversation, content=activity, collect=events)
    fresh = conversation_for_event(conversation.pk)
    for event_type, payload, audience in (
        (EventType.ASSIGNEE_CHANGED, {"assignee": user_summary(fresh.assignee)}, Audience.OPERATORS),
        (EventType.CONVERSATION_UPDATED, conversation_payload(fresh), Audience.EVERYONE),
    ):
        events.append(EventDraft(event_type, payload, inbox_id=fresh.inbox_id, conversation_id=fresh.pk,
                                 contact_inbox_id=fresh.contact_inbox_id, audience=audience))
    dispatch_all(events)

    def forget_unread() -> None:
        invalidate_operator_unread(old_assignee_id)
        invalidate_operator_unread(assignee_id)

    transaction.on_commit(forget_unread)
    return fresh


def operator_person(user_id: int) -> dict[str, Any]:
    """``{"id", "name"}`` of an operator for an activity line."""
    user = User.objects.select_related("operator_profile").filter(pk=user_id).first()
    return person(user) or {"id": user_id, "name": ""}


def operator_display_name(user_id: int) -> str:
    user = User.objects.select_related("operator_profile").filter(pk=user_id).first()
    return str((user_summary(user) or {}).get("name", "the operator")) if user is not None else "the operator"


@transaction.atomic
def conversations_release_in_transaction(
    *, user_id: int, activity: str | dict[str, Any], inbox_id: int | None = None,
    include_inactive_statuses: bool = True,
) -> list[int]:
    """Unassign the operator's conversations (of one inbox, or all) in the caller's
    transaction: every status but resolved (open, pending, snoozed) when
    ``include_inactive_statuses``, else open ones only. Each gets ``activity`` and the events;
    ``assignee.changed`` to nobody lets assignment serve the inbox again after commit."""
    conversations = Conversation.objects.filter(assignee_id=user_id).exclude(status=ConversationStatus.RESOLVED)
    if not include_inactive_statuses:
        conversations = conversations.filter(status=ConversationStatus.OPEN)
    if inbox_id is not None:
        conversations = conversations.filter(inbox_id=inbox_id)
    released = []
    for conversation_id in conversations.order_by("id").values_list("pk", flat=True):
        conversation = lock_conversation(conversation_id)
        if conversation.assignee_id != user_id or conversation.status == ConversationStatus.RESOLVED:
            continue
        conversation_write_assignee(conversation=conversation, assignee_id=None, activity=activity)
        released.append(conversation_id)
    return released
