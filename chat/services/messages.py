"""Recording messages (DESIGN.md §5): validation, idempotency, conversation side effects."""
from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce, Now
from django.db.models.sql.subqueries import UpdateQuery
from django.utils import timezone
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
from chat.events import EventDraft, EventType, dispatch_all
from chat.models import (
    Attachment,
    Audience,
    Contact,
    ContactInbox,
    Conversation,
    ConversationStatus,
    Inbox,
    Message,
    MessageDirection,
)
from chat.payloads import iso, message_payload
from chat.services.attachments import AcceptedAttachment, attachment_policy_check
from chat.services.business_hours import inbox_is_open, inbox_next_open_at
from chat.services.conversations import (
    activity_add,
    conversation_create,
    conversation_emit,
    invalidate_operator_unread,
    lock_conversation,
    status_columns,
)
from chat.services.inbox_texts import inbox_text
from chat.services.queue import queue_changed
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
    """The stored message a repeat refers to: same ``source_id`` (any sender) or same ``echo_id``
    (same sender). The lookup (one query for both keys) reads ids only: it finds nothing on
    almost every message, and the payload's relations are loaded only for a repeat."""
    if not source_id and not echo_id:
        return None
    keys = Q()
    if source_id:
        keys |= Q(source_id=source_id)
    if echo_id:
        keys |= Q(echo_id=echo_id, sender_contact_id=sender_contact_id, sender_user_id=sender_user_id)
    found = list(Message.objects.filter(keys, conversation_id=conversation_id).order_by("id")
                 .values_list("id", "source_id")[:2])
    if not found:
        return None
    # A source_id match wins over an echo_id match (the dedup key of integrations).
    pk = next((pk for pk, found_source in found if source_id and found_source == source_id), found[0][0])
    return Message.objects.select_related("sender_user__operator_profile", "sender_contact").get(pk=pk)


def _clean_key(value: Any, length: int) -> str | None:
    return (str(value)[:length] or None) if value is not None else None


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
    within: Q | None = None,
) -> RecordedMessage:
    """Record one message on a conversation and apply the conversation rules.

    ``within``: the caller's scope as a condition on the conversation (e.g. the operator
    socket's ``operator_conversation_q``), checked in the statement that locks it: NotFound
    outside it, with no separate authorization read.

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
    echo_id = _clean_key(echo_id, 100)
    source_id = _clean_key(source_id, 255)
    sender_contact_id = sender_contact.pk if sender_contact is not None else None
    sender_user_id = sender_user.pk if sender_user is not None else None
    try:
        # Outermost (the sockets, REST): one transaction, no savepoint. Nested in a caller's
        # transaction: a savepoint, so that a refusal leaves the caller's transaction usable.
        with transaction.atomic():
            conversation = lock_conversation(conversation_id, related=_LOCK_RELATED, within=within)
            return _record_locked(
                conversation=conversation,
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


# Read with the conversation's lock: the contact (blocked? the incoming message's sender) and the
# assignee with their profile (the usual sender of a reply: its payload needs no further read).
_LOCK_RELATED = ("contact", "assignee__operator_profile")


def _record_locked(
    *,
    conversation: Conversation,
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
    """The message on ``conversation``, whose row this transaction has locked (and read with
    it: status, first reply, and for an incoming message its contact).

    Statements in the common case (an open conversation, no attachment): the repeat lookup
    (only with an echo_id or source_id), the message, one UPDATE of the conversation (and, for
    an incoming message, its contact, in the same statement), and the outbox rows of its events
    (one statement however many)."""
    existing = _existing(
        conversation.pk,
        source_id=source_id,
        echo_id=echo_id,
        sender_contact_id=sender_contact.pk if sender_contact else None,
        sender_user_id=sender_user.pk if sender_user else None,
    )
    if existing is not None:
        return RecordedMessage(existing, created=False)

    incoming = direction == MessageDirection.INCOMING
    if sender_user is not None and sender_user.pk == conversation.assignee_id and _cached(conversation, "assignee"):
        sender_user = conversation.assignee  # read with the lock, profile included
    if incoming:
        assert sender_contact is not None  # message_create refuses an incoming message without it
        if _contact_blocked(conversation, sender_contact):
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
    # Every event of the message goes out in one statement, in order (chat.events.dispatch_all).
    drafts: list[EventDraft] = []
    if incoming:
        assert sender_contact is not None  # as above
        reopen = conversation.status in (ConversationStatus.RESOLVED, ConversationStatus.SNOOZED)
        _touch_incoming(conversation.pk, contact_id=sender_contact.pk, reopen=reopen)
        if reopen:
            activity_add(conversation=conversation, activity=activity_data(
                ActivityKind.REOPENED, actor=actor(contact=sender_contact)), collect=drafts)
            events.append(EventType.CONVERSATION_STATUS_CHANGED)
        if conversation.assignee_id is None and conversation.waiting_since is None:
            queue_changed(inbox_id=conversation.inbox_id)  # it starts waiting in line (after commit)
        assignee_id = conversation.assignee_id
        transaction.on_commit(lambda: invalidate_operator_unread(assignee_id))
    elif private or sender_user is None:
        Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=Now())
    else:
        # The row is locked and was read with the lock: whether this is the first reply is
        # known without a conditional UPDATE, and one statement does either.
        first = conversation.first_reply_created_at is None
        changes: dict[str, Any] = {"waiting_since": None, "last_activity_at": Now()}
        if first:
            changes["first_reply_created_at"] = message.created_at
        Conversation.objects.filter(pk=conversation.pk).update(**changes)
        events.append(EventType.FIRST_REPLY_CREATED if first else EventType.REPLY_CREATED)

    if attachments:
        message = Message.objects.select_related("sender_user__operator_profile", "sender_contact").get(pk=message.pk)
    else:
        # Django's private prefetch cache (no attachments: spares message_payload a query).
        message._prefetched_objects_cache = {"attachments": Attachment.objects.none()}  # type: ignore[attr-defined]
    payload = message_payload(message)
    drafts.append(EventDraft(EventType.MESSAGE_CREATED, payload, inbox_id=conversation.inbox_id,
                             conversation_id=conversation.pk, contact_inbox_id=conversation.contact_inbox_id,
                             audience=audience))
    for event_type in events:
        if event_type == EventType.CONVERSATION_STATUS_CHANGED:
            conversation_emit(event_type, conversation.pk, audience=Audience.EVERYONE, collect=drafts)
        else:
            drafts.append(EventDraft(event_type, {"message_id": message.pk, "created_at": payload["created_at"]},
                                     inbox_id=conversation.inbox_id, conversation_id=conversation.pk,
                                     contact_inbox_id=conversation.contact_inbox_id))
    dispatch_all(drafts)
    return RecordedMessage(message, created=True)


def _contact_blocked(conversation: Conversation, sender_contact: Contact) -> bool:
    """Read with the conversation's lock when the sender is its contact (always, in practice)."""
    if conversation.contact_id == sender_contact.pk and _cached(conversation, "contact"):
        return bool(conversation.contact.blocked)
    return Contact.objects.filter(pk=sender_contact.pk, blocked=True).exists()


def _cached(instance: Any, relation: str) -> bool:
    """Whether ``instance.<relation>`` was loaded with it (select_related): no query to read it."""
    return relation in instance._state.fields_cache


def _touch_incoming(conversation_id: int, *, contact_id: int, reopen: bool) -> None:
    """DESIGN §5 for an incoming message, in one statement: the conversation's
    ``last_activity_at`` (database time) and ``waiting_since`` if empty, reopened if resolved or
    snoozed, and the contact's ``last_activity_at``. The contact's UPDATE rides in a CTE of the
    conversation's (lock order: the conversation is already locked, the contact comes after)."""
    conversations = Conversation.objects.filter(pk=conversation_id)
    changes: dict[str, Any] = {"last_activity_at": Now(), "waiting_since": Coalesce("waiting_since", Now())}
    if reopen:
        changes.update(**status_columns(ConversationStatus.OPEN), snoozed_until=None)
    if connection.vendor != "postgresql":
        conversations.update(**changes)
        Contact.objects.filter(pk=contact_id).update(last_activity_at=Now())
        return
    # Compile Django's own UPDATE (field preparation, database time) and prefix the CTE.
    query = conversations.query.chain(UpdateQuery)
    assert isinstance(query, UpdateQuery)
    query.add_update_values(changes)
    sql, params = query.get_compiler(connection=connection).as_sql()
    contact_table = connection.ops.quote_name(Contact._meta.db_table)
    cte = f"WITH contact_touched AS (UPDATE {contact_table} SET last_activity_at = STATEMENT_TIMESTAMP() WHERE id = %s) "
    with connection.cursor() as cursor:
        cursor.execute(cte + sql, (contact_id, *params))


def current_conversation(latest: Conversation | None, *, inbox: Inbox) -> Conversation | None:
    """The visitor's current conversation given their latest one: None when there is none, or
    when it is resolved in an inbox that starts a new conversation instead of reopening it."""
    if latest is None:
        return None
    if latest.status == ConversationStatus.RESOLVED and not inbox.reopen_resolved_conversations:
        return None
    return latest


def visitor_conversation_for_message(*, contact_inbox: ContactInbox) -> Conversation | None:
    """The conversation a visitor's next message goes to, or None when a new one must start."""
    latest = Conversation.objects.filter(contact_inbox=contact_inbox).order_by("-id").first()
    return current_conversation(latest, inbox=contact_inbox.inbox)


def _lock_visitor(contact_inbox_id: int) -> tuple[ContactInbox, Conversation | None]:
    """Lock the contact inbox, then its latest conversation (docs/architecture.md, "Lock
    order"), with the inbox and the contact read alongside: two statements.

    Not one statement with ``FOR NO KEY UPDATE OF contact_inbox, conversation``: PostgreSQL
    locks the rows of a join in the order of its range table (the conversation first, as the
    query is FROM conversation), whatever the OF list says, and that order deadlocked against
    a delete, a resolve and an operator reply at once (tests/chat/test_message_delete_races.py)."""
    try:
        contact_inbox = (
            ContactInbox.objects.select_for_update(no_key=True, of=("self",))
            .select_related("inbox", "contact").get(pk=contact_inbox_id)
        )
    except ContactInbox.DoesNotExist:
        raise NotFound(_("Unknown visitor.")) from None
    # Under the contact inbox's lock: no conversation of it can be started concurrently.
    latest = (
        Conversation.objects.select_for_update(no_key=True).filter(contact_inbox_id=contact_inbox_id)
        .order_by("-id").first()
    )
    if latest is not None:
        latest.contact = contact_inbox.contact
    return contact_inbox, latest


def visitor_message_send(
    *,
    contact_inbox_id: int,
    content: str,
    echo_id: str | None = None,
    attachments: Sequence[UploadedFile] = (),
) -> RecordedMessage:
    """A visitor's message from the widget: into their current conversation, or a new one.

    The contact inbox row is locked so that two first messages sent at once start one
    conversation, not two; the conversation is locked with it, in the same statement. A new
    conversation's ``conversation.created`` precedes the message's ``message.created``.
    """
    content = validate_content(content, attachments)
    accepted = attachment_policy_check(attachments)
    echo_id = _clean_key(echo_id, 100)
    # One transaction, no savepoint: nothing below expects a database error to recover from (a
    # visitor's message carries no source_id, whose unique constraint is the only one).
    with transaction.atomic():
        contact_inbox, latest = _lock_visitor(contact_inbox_id)
        contact = contact_inbox.contact
        if contact.blocked:
            raise ContactBlocked()
        conversation = current_conversation(latest, inbox=contact_inbox.inbox)
        if conversation is None:
            # Created under the contact inbox's lock; invisible to others until commit.
            conversation = conversation_create(contact_inbox=contact_inbox)
        recorded = _record_locked(
            conversation=conversation,
            direction=MessageDirection.INCOMING,
            content=content,
            private=False,
            sender_contact=contact,
            sender_user=None,
            echo_id=echo_id,
            source_id=None,
            attachments=accepted,
            content_type="text",
            content_attributes={},
        )
        if recorded.created:
            out_of_office_reply(inbox=contact_inbox.inbox, conversation_id=conversation.pk,
                                language=contact_inbox.locale or None)
        return recorded


def out_of_office_reply(
    *, inbox: Inbox, conversation_id: int, at: datetime | None = None, language: str | None = None,
) -> RecordedMessage | None:
    """Outside the inbox's hours, answer a visitor's message with its ``out_of_office_message``
    in the visitor's ``language`` (chat.services.inbox_texts: their translation, the inbox's
    default, the built-in text) — an outgoing message from no user: not an operator reply —
    once per conversation and closed period. Within hours, or without hours, it returns at once
    without a query: the inbox row is the one the caller already loaded.

    "Once" is the unique ``(conversation, source_id)``: the source id names the closed period by
    the instant it ends (``ooo:<next_open_at>``), so a burst of messages, or two sent at once,
    get one answer, and the next closed period gets its own."""
    if inbox.working_hours is None:
        return None
    at = at or timezone.now()
    if inbox_is_open(inbox, at=at):
        return None
    opens = inbox_next_open_at(inbox, at=at)
    return message_create(
        conversation_id=conversation_id,
        direction=MessageDirection.OUTGOING,
        content=inbox_text(inbox, "out_of_office_message", language),
        source_id=f"ooo:{iso(opens) or 'never'}",
        content_attributes={"out_of_office": True, "next_open_at": iso(opens)},
    )
