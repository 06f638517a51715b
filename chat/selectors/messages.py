"""Message history pages, for an operator (everything) and for a visitor's widget (what they may see).

Pages are newest first and keyed by message id (``before``): ids only grow, so new messages
arriving while a client pages back never shift older pages. Attachments and senders are loaded
with the page (one query each), whatever the page size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _

from chat.errors import NotFound
from chat.models import Attachment, ContactInbox, Conversation, Message, MessageDirection
from chat.payloads import message_payload
from chat.selectors.conversations import conversation_check_visible


@dataclass(frozen=True)
class MessagePage:
    rows: list[dict[str, Any]]
    next_before: int | None  # pass as ``before`` for the next (older) page


def _page(queryset: QuerySet[Message], *, before: int | None, limit: int) -> MessagePage:
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    messages = list(
        queryset.select_related("sender_user__operator_profile", "sender_contact")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("-id")[: limit + 1]
    )
    more = len(messages) > limit
    messages = messages[:limit]
    return MessagePage([message_payload(m) for m in messages], messages[-1].pk if more and messages else None)


def message_history_for_operator(*, user: Any, conversation_id: int, before: int | None = None,
                                 limit: int = 20) -> MessagePage:
    """A conversation's messages (private notes and activity lines included), or NotFound."""
    conversation_check_visible(user=user, conversation_id=conversation_id)
    return _page(Message.objects.filter(conversation_id=conversation_id), before=before, limit=limit)


def widget_messages_queryset(contact_inbox: ContactInbox) -> QuerySet[Message]:
    """What a visitor may read: their own conversations in this inbox, never private notes or
    activity lines."""
    return Message.objects.filter(conversation__contact_inbox_id=contact_inbox.pk, private=False).exclude(
        direction=MessageDirection.ACTIVITY
    )


def message_history_for_widget(*, contact_inbox: ContactInbox, conversation_id: int | None = None,
                               before: int | None = None, limit: int = 20) -> MessagePage:
    """The visitor's messages (one of their conversations, or all); someone else's
    conversation is NotFound, exactly like a missing one."""
    queryset = widget_messages_queryset(contact_inbox)
    if conversation_id is not None:
        if not Conversation.objects.filter(pk=conversation_id, contact_inbox_id=contact_inbox.pk).exists():
            raise NotFound(_("Conversation not found."))
        queryset = queryset.filter(conversation_id=conversation_id)
    return _page(queryset, before=before, limit=limit)
