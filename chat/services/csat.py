"""Customer satisfaction (DESIGN.md §11 "CSAT", docs/desk.md): the survey a resolved
conversation sends to its visitor and the visitor's answer.

* ``csat_request``: called by ``conversation_set_status`` (the one owner of status changes, so
  every path that resolves — operator socket, REST, bulk, worker — asks) under the
  conversation's lock. On an inbox with ``csat_survey_enabled`` it adds one outgoing message
  with ``content_type: "input_csat"``, ``sender: null``, ``source_id: "csat"``: one survey per
  conversation (the unique ``(conversation, source_id)`` makes a second resolve a no-op). It is
  not an operator reply: it changes neither ``first_reply_created_at`` nor ``waiting_since``.
* ``csat_submit``: the visitor's answer (widget socket ``csat.submit`` or REST
  ``POST /api/widget/v1/csat``). Only the conversation's own visitor (anyone else: not_found),
  only once the survey was sent and while the inbox still has CSAT on (else conflict). One
  ``CsatResponse`` per conversation: a second answer within CSAT_REPLACE_WINDOW replaces the
  first (``created`` False), later ones are refused with ``conflict``. Serialized by the
  conversation's row lock (two submits at once: one row, the later one replaces).
  Operators get an activity line (stars and feedback, operator-only); the survey message's
  ``content_attributes.submitted`` records the answer (``message.updated`` to both sides) so a
  reloaded widget shows it answered.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import Conflict, InvalidData, NotFound
from chat.events import EventType, dispatch
from chat.models import Attachment, Audience, ContactInbox, Conversation, CsatResponse, Message, MessageDirection
from chat.payloads import iso, message_payload
from chat.services.inbox_texts import inbox_text
from chat.validation import clean_text

CSAT_CONTENT_TYPE = "input_csat"
CSAT_SOURCE_ID = "csat"
CSAT_REPLACE_WINDOW = timedelta(hours=24)
CSAT_FEEDBACK_MAX = 2_000


@dataclass(frozen=True)
class CsatAnswer:
    response: CsatResponse
    created: bool  # False: it replaced an earlier answer

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.response.conversation_id,
            "rating": self.response.rating,
            "feedback": self.response.feedback,
            "created_at": iso(self.response.created_at),
            "updated_at": iso(self.response.updated_at),
        }


def _emit_message(event_type: EventType, message: Message, conversation: Conversation, audience: str) -> None:
    message._prefetched_objects_cache = {"attachments": Attachment.objects.none()}  # type: ignore[attr-defined]
    dispatch(
        event_type,
        payload=message_payload(message),
        inbox_id=conversation.inbox_id,
        conversation_id=conversation.pk,
        contact_inbox_id=conversation.contact_inbox_id,
        audience=audience,
    )


def csat_request(*, conversation: Conversation) -> Message | None:
    """Send the survey of a conversation being resolved (caller holds its lock, in its
    transaction). None when the inbox has CSAT off or the survey was already sent. The question
    is the inbox's, in the visitor's language (``ContactInbox.locale``: chat.services.inbox_texts),
    whoever resolves."""
    visitor = (
        ContactInbox.objects.select_related("inbox")
        .filter(pk=conversation.contact_inbox_id, inbox__csat_survey_enabled=True).first()
    )
    if visitor is None:
        return None
    if Message.objects.filter(conversation_id=conversation.pk, source_id=CSAT_SOURCE_ID).exists():
        return None
    survey = Message.objects.create(
        conversation=conversation,
        direction=MessageDirection.OUTGOING,
        content=inbox_text(visitor.inbox, "csat_question", visitor.locale or None),
        content_type=CSAT_CONTENT_TYPE,
        source_id=CSAT_SOURCE_ID,
    )
    _emit_message(EventType.MESSAGE_CREATED, survey, conversation, Audience.EVERYONE)
    return survey


def _rating(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise InvalidData(_("rating is a whole number from 1 to 5."), fields={"rating": [_("A whole number from 1 to 5.")]})
    return value


def _feedback(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidData(_("feedback must be a string."), fields={"feedback": [_("Must be a string.")]})
    text: str = clean_text(value.strip(), field="feedback")
    if len(text) > CSAT_FEEDBACK_MAX:
        raise InvalidData(
            format_lazy(_("feedback is at most {max_length} characters."), max_length=CSAT_FEEDBACK_MAX),
            fields={"feedback": [format_lazy(_("At most {max_length} characters."), max_length=CSAT_FEEDBACK_MAX)]},
        )
    return text


def stars(rating: int) -> str:
    return "★" * rating + "☆" * (5 - rating)


def csat_submit(*, contact_inbox_id: int, conversation_id: Any, rating: Any, feedback: Any = None) -> CsatAnswer:
    """Record (or, within 24 h, replace) the visitor's rating of one of their conversations."""
    if isinstance(conversation_id, bool) or not isinstance(conversation_id, int):
        raise InvalidData(_("conversation_id must be an integer."), fields={"conversation_id": [_("An integer.")]})
    rating = _rating(rating)
    feedback = _feedback(feedback)
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(no_key=True, of=("self",))
            .select_related("inbox", "contact")
            .filter(pk=conversation_id, contact_inbox_id=contact_inbox_id)
            .first()
        )
        if conversation is None:  # another visitor's, or none at all: the same answer
            raise NotFound(_("Conversation not found."))
        survey = Message.objects.filter(conversation_id=conversation.pk, source_id=CSAT_SOURCE_ID).first()
        if not conversation.inbox.csat_survey_enabled or survey is None:
            raise Conflict(_("This conversation has no satisfaction survey to answer."))
        existing = CsatResponse.objects.filter(conversation_id=conversation.pk).first()
        if existing is not None and timezone.now() - existing.created_at > CSAT_REPLACE_WINDOW:
            raise Conflict(_("This conversation was already rated; a rating can be changed for 24 hours only."))
        if existing is None:
            response = CsatResponse.objects.create(
                conversation=conversation, contact_id=conversation.contact_id, assignee_id=conversation.assignee_id,
                rating=rating, feedback=feedback,
            )
        else:
            CsatResponse.objects.filter(pk=existing.pk).update(
                rating=rating, feedback=feedback, assignee_id=conversation.assignee_id, updated_at=Now()
            )
            response = existing
        response.refresh_from_db()
        _record_on_thread(conversation, survey, response, replaced=existing is not None)
        return CsatAnswer(response, created=existing is None)


def _record_on_thread(conversation: Conversation, survey: Message, response: CsatResponse, *, replaced: bool) -> None:
    answer = {"rating": response.rating, "feedback": response.feedback}
    verb = "changed their rating to" if replaced else "rated the conversation"
    text = f"{conversation.contact.name or 'The visitor'} {verb} {stars(response.rating)} ({response.rating}/5)"
    if response.feedback:
        text += f": “{response.feedback}”"
    line = Message.objects.create(
        conversation=conversation, direction=MessageDirection.ACTIVITY, content=text,
        content_type="csat_response", content_attributes={"csat": answer},
    )
    _emit_message(EventType.MESSAGE_CREATED, line, conversation, Audience.OPERATORS)
    survey.content_attributes = {**(survey.content_attributes or {}), "submitted": answer}
    survey.save(update_fields=["content_attributes"])
    _emit_message(EventType.MESSAGE_UPDATED, survey, conversation, Audience.EVERYONE)


def csat_summary(*, conversation_id: int) -> dict[str, Any] | None:
    """``{"rating", "feedback"}`` of the conversation's answer, or None (the detail's ``csat``)."""
    row = CsatResponse.objects.filter(conversation_id=conversation_id).values("rating", "feedback").first()
    return {"rating": row["rating"], "feedback": row["feedback"]} if row else None
