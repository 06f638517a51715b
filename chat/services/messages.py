"""Recording messages (DESIGN.md §5): validation, idempotency, conversation side effects."""
from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models.functions import Coalesce, Now
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.activity import ActivityKind, activity_data, actor
from chat.errors import (
    ContactBlocked,
    ContentTooLong,
    FloodLimited,
    InvalidData,
    NotFound,
    TooManyAttachments,
)
from chat.events import EventType, dispatch
from chat.models import (
    Attachment,
    Audience,
    Contact,
    ContactInbox,
    Conversation,
    ConversationStatus,
    Message,
    MessageDirection,
)
from chat.payloads import message_payload
from chat.services.attachments import AcceptedAttachment, attachment_policy_check
from chat.services.conversations import (
    activity_add,
    conversation_create,
    conversation_emit,
    invalidate_operator_unread,
    lock_conversation,
)
from chat.store import get_store


@dataclass(frozen=True)
class RecordedMessage:
    """A stored message, and whether this call created it (False: an idempotent repeat)."""

    message: Message
    created: bool


def validate_content(content: Any, attachments: Sequence[Any] = ()) -> str:
    """Check a message body and attachment count before anything is written."""
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise InvalidData(_("content must be a string."), fields={"content": [_("Must be a string.")]})
    if len(content) > settings.MESSAGE_MAX_LENGTH:
        raise ContentTooLong(
            format_lazy(_("The message is longer than {count} characters."), count=settings.MESSAGE_MAX_LENGTH),
            fields={"content": [format_lazy(_("At most {count} characters."), count=settings.MESSAGE_MAX_LENGTH)]},
        )
    if len(attachments) > settings.MESSAGE_MAX_ATTACHMENTS:
        raise TooManyAttachments(
            format_lazy(_("At most {count} attachments per message."), count=settings.MESSAGE_MAX_ATTACHMENTS),
            fields={"attachments": [format_lazy(_("At most {count}."), count=settings.MESSAGE_MAX_ATTACHMENTS)]},
        )
    if not content.strip() and not attachments:
        raise InvalidData(_("A message needs content or an attachment."), fields={"content": [_("May not be blank.")]})
    return content


def check_flood(*, contact_id: int) -> None:
    """Refuse a contact's message past FLOOD_LIMIT_MESSAGES in the sliding window.

    Counted in the shared store, so the limit holds across server processes. Only admitted
    messages are counted.
    """
    admitted = get_store().window_add(
        f"flood:contact:{contact_id}",
        now=time.time(),
        window=settings.FLOOD_LIMIT_WINDOW_SECONDS,
        limit=settings.FLOOD_LIMIT_MESSAGES,
        member=uuid.uuid4().hex,
    )
    if not admitted:
        raise FloodLimited(
            format_lazy(_("More than {count} messages in {seconds} s; wait a moment."),
                        count=settings.FLOOD_LIMIT_MESSAGES, seconds=settings.FLOOD_LIMIT_WINDOW_SECONDS)
        )


def _existing(conversation_id: int, *, source_id: str | None, echo_id: str | None, sender_contact_id: int | None,
              sender_user_id: int | None) -> Message | None:
    base = Message.objects.select_related("sender_user__operator_profile", "sender_contact")
    if source_id:
        found = base.filter(conversation_id=conversation_id, source_id=source_id).first()
        if found is not None:
            return found
    if echo_id:
        return base.filter(
            conversation_id=conversation_id,
            echo_id=echo_id,
            sender_contact_id=sender_contact_id,
            sender_user_id=sender_user_id,
        ).first()
    return None


def message_create(
    *,
    conversation_id: int,
    direction: str,
    content: str,
    private: bool = False,
    sender_contact: Contact | None = None,
    sender_user: Any | None = None,
    echo_id: str | None = None,
    source_id: str | None = None,
    attachments: Sequence[UploadedFile] = (),
    content_type: str = "text",
    content_attributes: dict[str, Any] | None = None,
) -> RecordedMessage:
    """Record one message on a conversation and apply the conversation rules.

    * incoming (from the contact): refused if the contact is blocked or flooding; sets
      ``waiting_since`` if empty; reopens a resolved or snoozed conversation;
    * outgoing (from an operator, not private): the first one sets ``first_reply_created_at``
      and emits ``first_reply.created``, later ones emit ``reply.created``; both clear
      ``waiting_since``;
    * private notes (operators only) change neither;
    * a repeat with the same ``source_id`` (any sender) or ``echo_id`` (same sender) returns the
      stored message and writes nothing;
    * attachments meet ``attachment_policy_check`` (count, size, type, name) whatever the
      transport that decoded them.

    Every change, including the events, is written in one transaction under the
    conversation's row lock; a refused message leaves nothing behind.
    """
    if direction not in (MessageDirection.INCOMING, MessageDirection.OUTGOING):
        raise InvalidData(_("direction must be incoming or outgoing."))
    if direction == MessageDirection.INCOMING:
        if sender_contact is None:
            raise InvalidData(_("An incoming message needs its contact."))
        private = False
    content = validate_content(content, attachments)
    accepted = attachment_policy_check(attachments)
    echo_id = (str(echo_id)[:100] or None) if echo_id is not None else None
    source_id = (str(source_id)[:255] or None) if source_id is not None else None
    sender_contact_id = sender_contact.pk if sender_contact is not None else None
    sender_user_id = sender_user.pk if sender_user is not None else None
    try:
        with transaction.atomic():
            return _record_locked(
                conversation_id=conversation_id,
                direction=direction,
                content=content,
                private=private,
                sender_contact=sender_contact,
                sender_user=sender_user,
                echo_id=echo_id,
                source_id=source_id,
                attachments=accepted,
                content_type=content_type,
                content_attributes=content_attributes or {},
            )
    except IntegrityError:
        # A concurrent writer on another conversation row cannot collide; the unique
        # (conversation, source_id) constraint is the last line behind the row lock.
        existing = _existing(conversation_id, source_id=source_id, echo_id=echo_id,
                             sender_contact_id=sender_contact_id, sender_user_id=sender_user_id)
        if existing is None:
            raise
        return RecordedMessage(existing, created=False)


def _record_locked(
    *,
    conversation_id: int,
    direction: str,
    content: str,
    private: bool,
    sender_contact: Contact | None,
    sender_user: Any | None,
    echo_id: str | None,
    source_id: str | None,
    attachments: Sequence[AcceptedAttachment],
    content_type: str,
    content_attributes: dict[str, Any],
) -> RecordedMessage:
    conversation = lock_conversation(conversation_id)
    existing = _existing(
        conversation_id,
        source_id=source_id,
        echo_id=echo_id,
        sender_contact_id=sender_contact.pk if sender_contact else None,
        sender_user_id=sender_user.pk if sender_user else None,
    )
    if existing is not None:
        return RecordedMessage(existing, created=False)

    incoming = direction == MessageDirection.INCOMING
    if incoming:
        assert sender_contact is not None  # message_create refuses an incoming message without it
        if Contact.objects.filter(pk=sender_contact.pk, blocked=True).exists():
            raise ContactBlocked()
        check_flood(contact_id=sender_contact.pk)

    message = Message.objects.create(
        conversation=conversation,
        direction=direction,
        private=private,
        sender_contact=sender_contact,
        sender_user=sender_user,
        content=content,
        content_type=content_type,
        content_attributes=content_attributes,
        echo_id=echo_id,
        source_id=source_id,
    )
    for upload in attachments:
        Attachment.objects.create(message=message, file=upload.file, file_type=upload.content_type, size=upload.size)

    audience = Audience.OPERATORS if private else Audience.EVERYONE
    events: list[EventType] = []
    conversations = Conversation.objects.filter(pk=conversation.pk)
    if incoming:
        if conversation.status in (ConversationStatus.RESOLVED, ConversationStatus.SNOOZED):
            conversations.update(status=ConversationStatus.OPEN, snoozed_until=None)
            activity_add(conversation=conversation, activity=activity_data(
                ActivityKind.REOPENED, actor=actor(contact=sender_contact)))
            events.append(EventType.CONVERSATION_STATUS_CHANGED)
        conversations.update(last_activity_at=Now(), waiting_since=Coalesce("waiting_since", Now()))
        assert sender_contact is not None  # as above
        Contact.objects.filter(pk=sender_contact.pk).update(last_activity_at=Now())
        transaction.on_commit(lambda: invalidate_operator_unread(conversation.assignee_id))
    elif private or sender_user is None:
        conversations.update(last_activity_at=Now())
    else:
        first = conversations.filter(first_reply_created_at__isnull=True).update(
            first_reply_created_at=message.created_at, waiting_since=None, last_activity_at=Now()
        )
        if not first:
            conversations.update(waiting_since=None, last_activity_at=Now())
        events.append(EventType.FIRST_REPLY_CREATED if first else EventType.REPLY_CREATED)

    if attachments:
        message = Message.objects.select_related("sender_user__operator_profile", "sender_contact").get(pk=message.pk)
    else:
        # Django's private prefetch cache (no attachments: spares message_payload a query).
        message._prefetched_objects_cache = {"attachments": Attachment.objects.none()}  # type: ignore[attr-defined]
    dispatch(
        EventType.MESSAGE_CREATED,
        payload=message_payload(message),
        inbox_id=conversation.inbox_id,
        conversation_id=conversation.pk,
        contact_inbox_id=conversation.contact_inbox_id,
        audience=audience,
    )
    for event_type in events:
        if event_type == EventType.CONVERSATION_STATUS_CHANGED:
            conversation_emit(event_type, conversation.pk, audience=Audience.EVERYONE)
        else:
            dispatch(
                event_type,
                payload={"message_id": message.pk, "created_at": message_payload(message)["created_at"]},
                inbox_id=conversation.inbox_id,
                conversation_id=conversation.pk,
                contact_inbox_id=conversation.contact_inbox_id,
            )
    return RecordedMessage(message, created=True)


def visitor_conversation_for_message(*, contact_inbox: ContactInbox) -> Conversation | None:
    """The conversation a visitor's next message goes to, or None when a new one must start."""
    latest = Conversation.objects.filter(contact_inbox=contact_inbox).order_by("-id").first()
    if latest is None:
        return None
    if latest.status == ConversationStatus.RESOLVED and not contact_inbox.inbox.reopen_resolved_conversations:
        return None
    return latest


def visitor_message_send(
    *,
    contact_inbox_id: int,
    content: str,
    echo_id: str | None = None,
    attachments: Sequence[UploadedFile] = (),
) -> RecordedMessage:
    """A visitor's message from the widget: into their current conversation, or a new one.

    The contact inbox row is locked so that two first messages sent at once start one
    conversation, not two. A new conversation's ``conversation.created`` precedes the message's
    ``message.created``.
    """
    validate_content(content, attachments)
    attachment_policy_check(attachments)  # before the locks; message_create checks again (cheap)
    with transaction.atomic():
        try:
            contact_inbox = (
                ContactInbox.objects.select_for_update(no_key=True, of=("self",))
                .select_related("inbox", "contact").get(pk=contact_inbox_id)
            )
        except ContactInbox.DoesNotExist:
            raise NotFound(_("Unknown visitor.")) from None
        if contact_inbox.contact.blocked:
            raise ContactBlocked()
        conversation = visitor_conversation_for_message(contact_inbox=contact_inbox)
        if conversation is not None and echo_id:
            repeat = _existing(conversation.pk, source_id=None, echo_id=echo_id,
                               sender_contact_id=contact_inbox.contact_id, sender_user_id=None)
            if repeat is not None:
                return RecordedMessage(repeat, created=False)
        if conversation is None:
            conversation = conversation_create(contact_inbox=contact_inbox)
        return message_create(
            conversation_id=conversation.pk,
            direction=MessageDirection.INCOMING,
            content=content,
            sender_contact=contact_inbox.contact,
            echo_id=echo_id,
            attachments=attachments,
        )
