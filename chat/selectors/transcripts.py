"""Conversation transcripts (DESIGN.md §12): which messages a transcript holds for its reader.

* An operator who may see the conversation (``conversation_check_visible``): every message,
  private notes and activity lines included, oldest first.
* A visitor (widget token): only their own conversation (anyone else's is NotFound, like a
  missing one) and only what the widget may read (``widget_messages_queryset``: no private
  notes, no activity lines).

Large conversations are bounded, not held whole: one transcript is at most
``TRANSCRIPT_MAX_MESSAGES`` messages and about ``TRANSCRIPT_MAX_CONTENT_CHARS`` characters of
content (at least one message), loaded with their senders and attachments in a constant number of queries;
``next`` is the id to pass as ``after`` for the rest. (A streamed body would have to run its
queries inside the response iterator, which Django's ASGI handler consumes whole anyway for a
synchronous iterator; pages keep memory bounded with plain requests.)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chat.errors import NotFound
from chat.models import Attachment, ContactInbox, Conversation, Message
from chat.selectors.conversations import conversation_check_visible
from chat.selectors.messages import widget_messages_queryset

TRANSCRIPT_MAX_MESSAGES = 2000
# A message holds up to 150,000 characters: 4 M characters is about 27 full ones, or thousands of usual ones.
TRANSCRIPT_MAX_CONTENT_CHARS = 4_000_000


@dataclass(frozen=True)
class Transcript:
    conversation: Conversation
    messages: list[Message]  # oldest first, with senders and attachments loaded
    next: int | None  # pass as ``after`` for the rest; None when this is the end
    for_operator: bool
    generated_at: datetime


def transcript_for_operator(*, user: Any, conversation_id: int, after: int | None = None) -> Transcript:
    """The operator's transcript (notes and activity lines included), or NotFound."""
    conversation_check_visible(user=user, conversation_id=conversation_id)
    conversation = _conversation(Conversation.objects.filter(pk=conversation_id))
    messages = Message.objects.filter(conversation_id=conversation_id)
    return _transcript(conversation, messages, after=after, for_operator=True)


def transcript_for_visitor(*, contact_inbox: ContactInbox, conversation_id: int,
                           after: int | None = None) -> Transcript:
    """The visitor's transcript of one of their own conversations (public messages only), or
    NotFound."""
    conversation = _conversation(Conversation.objects.filter(pk=conversation_id, contact_inbox_id=contact_inbox.pk))
    messages = widget_messages_queryset(contact_inbox).filter(conversation_id=conversation_id)
    return _transcript(conversation, messages, after=after, for_operator=False)


def _conversation(queryset: QuerySet[Conversation]) -> Conversation:
    conversation = queryset.select_related("contact", "inbox").first()
    if conversation is None:
        raise NotFound(_("Conversation not found."))
    return conversation


def _transcript(conversation: Conversation, messages: QuerySet[Message], *, after: int | None,
                for_operator: bool) -> Transcript:
    if after is not None:
        messages = messages.filter(id__gt=after)
    # First the ids and sizes (cheap), then the kept rows whole: memory stays within the bounds
    # even when the conversation holds thousands of long messages.
    sizes = list(messages.order_by("id").annotate(chars=Length("content"))
                 .values_list("id", "chars")[: TRANSCRIPT_MAX_MESSAGES + 1])
    kept_ids: list[int] = []
    total = 0
    for message_id, chars in sizes[:TRANSCRIPT_MAX_MESSAGES]:
        total += chars or 0
        if kept_ids and total > TRANSCRIPT_MAX_CONTENT_CHARS:
            break
        kept_ids.append(message_id)
    kept = list(
        Message.objects.filter(id__in=kept_ids)
        .select_related("sender_user__operator_profile", "sender_contact")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("id")
    ) if kept_ids else []
    more = len(kept_ids) < len(sizes)
    return Transcript(conversation=conversation, messages=kept, next=kept_ids[-1] if more and kept_ids else None,
                      for_operator=for_operator, generated_at=timezone.now())
