"""Conversation rules (DESIGN.md §5): creation, status, priority, last seen, unread counts."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.activity import ActivityKind, activity_data, actor, render_activity
from chat.errors import InvalidData, NotFound
from chat.events import EventDraft, EventType, dispatch, dispatch_all
from chat.models import (
    Attachment,
    Audience,
    Branch,
    ContactInbox,
    Conversation,
    ConversationStatus,
    Message,
    MessageDirection,
    Priority,
)
from chat.payloads import conversation_payload, message_payload, user_summary, with_label_names
from chat.services.branches import get_default_branch, get_default_branch_id_cached
from chat.services.csat import csat_request
from chat.store import get_store

User = get_user_model()


def _allocate_display_id(branch_id: int) -> int:
    """Next per-branch number. The counter row stays locked until the caller commits, so two
    creators never get the same number; a rolled-back creation leaves a gap (tolerated)."""
    table = Branch._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_display_id = last_display_id + 1 WHERE id = %s RETURNING last_display_id",
            [branch_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound(_("Branch not found."))
    return int(row[0])


def _branch_id_for(contact_inbox: ContactInbox) -> int:
    inbox = contact_inbox.inbox
    if inbox.branch_id is not None:
        return inbox.branch_id
    return get_default_branch_id_cached() or get_default_branch().pk


def conversation_for_event(conversation_id: int) -> Conversation:
    """Load a conversation with what its payload needs (assignee, contact, label names), in one
    query."""
    return with_label_names(Conversation.objects.select_related("assignee__operator_profile", "contact")).get(
        pk=conversation_id)


@transaction.atomic
def conversation_create(
    *,
    contact_inbox: ContactInbox,
    identifier: str | None = None,
    custom_attributes: dict[str, Any] | None = None,
    additional_attributes: dict[str, Any] | None = None,
) -> Conversation:
    """Open a new conversation for a visitor in an inbox; emits ``conversation.created``."""
    branch_id = _branch_id_for(contact_inbox)
    conversation = Conversation.objects.create(
        display_id=_allocate_display_id(branch_id),
        branch_id=branch_id,
        inbox_id=contact_inbox.inbox_id,
        contact_id=contact_inbox.contact_id,
        contact_inbox=contact_inbox,
        identifier=identifier,
        custom_attributes=custom_attributes or {},
        additional_attributes=additional_attributes or {},
    )
    conversation = conversation_for_event(conversation.pk)
    dispatch(
        EventType.CONVERSATION_CREATED,
        payload=conversation_payload(conversation),
        inbox_id=conversation.inbox_id,
        conversation_id=conversation.pk,
        contact_inbox_id=conversation.contact_inbox_id,
        audience=Audience.EVERYONE,
    )
    return conversation


def actor_name(*, user: Any | None = None, contact: Any | None = None) -> str:
    if user is not None:
        return str((user_summary(user) or {}).get("name", "someone"))
    if contact is not None:
        return contact.name or "the contact"
    return "the system"


def activity_add(
    *, conversation: Conversation, content: str | None = None, activity: dict[str, Any] | None = None,
    collect: list[EventDraft] | None = None,
) -> Message:
    """Add an ``activity`` line (operators only) and emit ``message.created``.

    ``activity`` is the line as data (``chat.activity.activity_data``: who did what), stored in
    ``content_attributes.activity`` and rendered per reader; ``content`` is then its rendering in
    the server's language unless given. Free text alone (``content``) is stored as it is.
    ``collect``: append the event there instead, for the caller to write it with the others of
    its change (``chat.events.dispatch_all``: one statement)."""
    attributes: dict[str, Any] = {}
    if activity is not None:
        attributes["activity"] = activity
        if content is None:
            content = render_activity(activity)
    message = Message.objects.create(conversation=conversation, direction=MessageDirection.ACTIVITY,
                                     content=content or "", content_attributes=attributes)
    # An activity line has no sender and no attachment: its payload needs no further read.
    message._prefetched_objects_cache = {"attachments": Attachment.objects.none()}  # type: ignore[attr-defined]
    draft = EventDraft(EventType.MESSAGE_CREATED, message_payload(message), inbox_id=conversation.inbox_id,
                       conversation_id=conversation.pk, contact_inbox_id=conversation.contact_inbox_id,
                       audience=Audience.OPERATORS)
    if collect is not None:
        collect.append(draft)
    else:
        dispatch_all([draft])
    return message


_STATUS_ACTIVITY = {
    ConversationStatus.OPEN: ActivityKind.REOPENED,
    ConversationStatus.RESOLVED: ActivityKind.RESOLVED,
    ConversationStatus.PENDING: ActivityKind.PENDING,
    ConversationStatus.SNOOZED: ActivityKind.SNOOZED,
}
_SNOOZED_UNTIL_REPLY_ACTIVITY = "Conversation was snoozed until the next reply by {actor}"


def status_columns(status: str) -> dict[str, Any]:
    """The columns a status change writes with ``status`` (in the same UPDATE): ``resolved_at``
    is the database time of the latest resolution while resolved, null otherwise. Every path
    that changes a status writes through this (reports read resolutions from it)."""
    return {"status": status, "resolved_at": Now() if status == ConversationStatus.RESOLVED else None}


def lock_conversation(conversation_id: int, *, related: tuple[str, ...] = (), within: Q | None = None) -> Conversation:
    """Row-lock a conversation for the rest of the transaction, or NotFound.

    FOR NO KEY UPDATE: it does not block the deferred foreign-key checks (FOR KEY SHARE) of
    other transactions; see "Lock order" in docs/architecture.md for the order of locks.
    ``related``: rows read in the same statement (``select_related``), not locked. ``within``:
    a condition the conversation must also meet (the caller's scope, from its owner), decided
    in the same statement; NotFound otherwise, exactly as for a missing one."""
    try:
        queryset = Conversation.objects.select_for_update(no_key=True, of=("self",) if related else ())
        if within is not None:
            queryset = queryset.filter(within)
        # Never ``select_related()`` with no names: that joins every foreign key, and without an
        # OF list the lock would take the branch, inbox, contact and contact inbox rows too
        # (against the lock order: it deadlocked with a visitor's message).
        if related:
            queryset = queryset.select_related(*related)
        return queryset.get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise NotFound(_("Conversation not found.")) from None


def conversation_emit(
    event_type: EventType, conversation_id: int, *, audience: str, collect: list[EventDraft] | None = None
) -> Conversation:
    """Dispatch an event whose payload is the conversation as it is now (in the transaction);
    ``collect``: append it there instead (see ``activity_add``)."""
    conversation = conversation_for_event(conversation_id)
    draft = EventDraft(event_type, conversation_payload(conversation), inbox_id=conversation.inbox_id,
                       conversation_id=conversation.pk, contact_inbox_id=conversation.contact_inbox_id,
                       audience=audience)
    if collect is not None:
        collect.append(draft)
    else:
        dispatch_all([draft])
    return conversation


@transaction.atomic
def conversation_set_status(
    *,
    conversation_id: int,
    status: str,
    snoozed_until: datetime | None = None,
    actor_user: Any | None = None,
    actor_contact: Any | None = None,
) -> Conversation:
    """Change a conversation's status (open, pending, resolved, snoozed).

    Snoozed with a ``snoozed_until`` (in the future) wakes at that time
    (``conversations_wake_snoozed``) or on the contact's next message; snoozed without one
    ("until the next reply", DESIGN §11) wakes only on the contact's next message
    (``messages.message_create`` reopens it). Adds an activity line and emits
    ``conversation.status_changed``; setting the status (and snooze end) it already has changes
    nothing and emits nothing.
    """
    if status not in ConversationStatus.values:
        raise InvalidData(_("Unknown status."), fields={"status": [format_lazy(_("One of {choices}."), choices=", ".join(ConversationStatus.values))]})
    if status == ConversationStatus.SNOOZED:
        if snoozed_until is not None and snoozed_until <= timezone.now():
            raise InvalidData(_("Snoozing needs a future snoozed_until."), fields={"snoozed_until": [_("Must be in the future.")]})
    else:
        snoozed_until = None
    conversation = lock_conversation(conversation_id)
    if conversation.status == status and conversation.snoozed_until == snoozed_until:
        return conversation_for_event(conversation_id)
    changes: dict[str, Any] = {**status_columns(status), "snoozed_until": snoozed_until}
    if status == ConversationStatus.RESOLVED:
        changes["waiting_since"] = None
    Conversation.objects.filter(pk=conversation_id).update(**changes)
    kind = _STATUS_ACTIVITY[ConversationStatus(status)]
    if status == ConversationStatus.SNOOZED and snoozed_until is None:
        kind = ActivityKind.SNOOZED_UNTIL_REPLY
    details: dict[str, Any] = {"until": snoozed_until} if snoozed_until else {}
    activity_add(conversation=conversation, activity=activity_data(
        kind, actor=actor(user=actor_user, contact=actor_contact), **details))
    if status == ConversationStatus.RESOLVED:
        csat_request(conversation=conversation)  # CSAT: the survey, on every path that resolves
    return conversation_emit(EventType.CONVERSATION_STATUS_CHANGED, conversation_id, audience=Audience.EVERYONE)


def conversation_toggle_status(*, conversation_id: int, actor_user: Any | None = None) -> Conversation:
    """open → resolved; resolved, pending or snoozed → open."""
    current = Conversation.objects.filter(pk=conversation_id).values_list("status", flat=True).first()
    if current is None:
        raise NotFound(_("Conversation not found."))
    target = ConversationStatus.RESOLVED if current == ConversationStatus.OPEN else ConversationStatus.OPEN
    return conversation_set_status(conversation_id=conversation_id, status=target, actor_user=actor_user)


@transaction.atomic
def conversation_set_priority(*, conversation_id: int, priority: str, actor_user: Any | None = None) -> Conversation:
    """Change the priority; adds an activity line and emits ``conversation.updated``."""
    if priority not in Priority.values:
        raise InvalidData(_("Unknown priority."), fields={"priority": [format_lazy(_("One of {choices}."), choices=", ".join(Priority.values))]})
    conversation = lock_conversation(conversation_id)
    if conversation.priority == priority:
        return conversation_for_event(conversation_id)
    Conversation.objects.filter(pk=conversation_id).update(priority=priority)
    activity_add(conversation=conversation, activity=activity_data(
        ActivityKind.PRIORITY_CHANGED, actor=actor(user=actor_user), priority=priority))
    return conversation_emit(EventType.CONVERSATION_UPDATED, conversation_id, audience=Audience.OPERATORS)


@transaction.atomic
def conversation_update_attributes(
    *, conversation_id: int, custom_attributes: dict[str, Any] | None = None
) -> Conversation:
    """Replace custom attributes; emits ``conversation.updated``."""
    lock_conversation(conversation_id)
    if custom_attributes is not None:
        Conversation.objects.filter(pk=conversation_id).update(custom_attributes=custom_attributes)
    return conversation_emit(EventType.CONVERSATION_UPDATED, conversation_id, audience=Audience.OPERATORS)


@transaction.atomic
def conversation_update(
    *,
    conversation_id: int,
    actor_user: Any | None = None,
    status: str | None = None,
    snoozed_until: datetime | None = None,
    priority: str | None = None,
    custom_attributes: dict[str, Any] | None = None,
) -> Conversation:
    """Change status (with ``snoozed_until``), priority and custom attributes together: one
    transaction under the conversation's lock, so a refusal of any part writes none of them.
    ``None`` leaves a field as it is."""
    if priority is not None and priority not in Priority.values:
        raise InvalidData(_("Unknown priority."), fields={"priority": [format_lazy(_("One of {choices}."), choices=", ".join(Priority.values))]})
    if custom_attributes is not None and not isinstance(custom_attributes, dict):
        raise InvalidData(_("custom_attributes must be an object."), fields={"custom_attributes": [_("An object.")]})
    lock_conversation(conversation_id)
    if status is not None:
        conversation_set_status(
            conversation_id=conversation_id, status=status, snoozed_until=snoozed_until, actor_user=actor_user
        )
    if priority is not None:
        conversation_set_priority(conversation_id=conversation_id, priority=priority, actor_user=actor_user)
    if custom_attributes is not None:
        conversation_update_attributes(conversation_id=conversation_id, custom_attributes=custom_attributes)
    return conversation_for_event(conversation_id)


def conversations_wake_snoozed(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Reopen snoozed conversations whose ``snoozed_until`` has passed; returns their ids.
    Those snoozed until the next reply (no ``snoozed_until``) never match: only the contact
    wakes them."""
    now = now or timezone.now()
    due = list(
        Conversation.objects.filter(status=ConversationStatus.SNOOZED, snoozed_until__lte=now)
        .order_by("snoozed_until")
        .values_list("pk", flat=True)[:limit]
    )
    woken = []
    for conversation_id in due:
        with transaction.atomic():
            conversation = lock_conversation(conversation_id)
            if conversation.status != ConversationStatus.SNOOZED:
                continue  # another worker (or a new message) got there first
            Conversation.objects.filter(pk=conversation_id).update(**status_columns(ConversationStatus.OPEN),
                                                                   snoozed_until=None)
            activity_add(conversation=conversation, activity=activity_data(ActivityKind.SNOOZE_ENDED))
            conversation_emit(EventType.CONVERSATION_STATUS_CHANGED, conversation_id, audience=Audience.EVERYONE)
            woken.append(conversation_id)
    return woken


# --- Last seen (throttled) and unread counts -------------------------------------------------


def _touch_last_seen(conversation_id: int, *, side: str, field: str) -> bool:
    store = get_store()
    if not store.acquire(f"seen:{side}:{conversation_id}", settings.LAST_SEEN_THROTTLE_SECONDS):
        return False
    with transaction.atomic():
        updated = Conversation.objects.filter(pk=conversation_id).update(**{field: Now()})
        if not updated:
            store.delete(f"seen:{side}:{conversation_id}")
            raise NotFound(_("Conversation not found."))
        conversation = Conversation.objects.only("inbox_id", "contact_inbox_id", "assignee_id", field).get(
            pk=conversation_id
        )
        dispatch(
            EventType.CONVERSATION_READ,
            payload={"side": side, "last_seen_at": getattr(conversation, field).isoformat().replace("+00:00", "Z")},
            inbox_id=conversation.inbox_id,
            conversation_id=conversation_id,
            contact_inbox_id=conversation.contact_inbox_id,
            audience=Audience.EVERYONE,
        )
        if side == "agent" and conversation.assignee_id:
            transaction.on_commit(lambda: invalidate_operator_unread(conversation.assignee_id))
    return True


def touch_assignee_last_seen(*, conversation_id: int) -> bool:
    """Record that operators read the conversation; writes at most once per 15 s (True if written)."""
    return _touch_last_seen(conversation_id, side="agent", field="agent_last_seen_at")


def touch_contact_last_seen(*, conversation_id: int) -> bool:
    """Record that the visitor read the conversation; writes at most once per 15 s (True if written)."""
    return _touch_last_seen(conversation_id, side="contact", field="contact_last_seen_at")


def unread_filter(prefix: str = "") -> Q:
    """Incoming messages an operator has not seen (newer than ``agent_last_seen_at``)."""
    p = prefix
    return Q(**{f"{p}direction": MessageDirection.INCOMING}) & (
        Q(**{f"{p}conversation__agent_last_seen_at__isnull": True})
        | Q(**{f"{p}created_at__gt": F(f"{p}conversation__agent_last_seen_at")})
    )


def conversation_unread_count(*, conversation_id: int) -> int:
    """Incoming messages of one conversation that operators have not seen."""
    return Message.objects.filter(unread_filter(), conversation_id=conversation_id).count()


def _unread_key(user_id: int) -> str:
    return f"unread:user:{user_id}"


def operator_unread_total(*, user_id: int) -> int:
    """Unread incoming messages in the open conversations assigned to an operator (cached 30 s)."""
    key = _unread_key(user_id)
    cached = cache.get(key)
    if cached is not None:
        return int(cached)
    total = Message.objects.filter(
        unread_filter(),
        conversation__assignee_id=user_id,
        conversation__status=ConversationStatus.OPEN,
    ).count()
    cache.set(key, total, settings.UNREAD_COUNT_CACHE_SECONDS)
    return total


def invalidate_operator_unread(user_id: int | None) -> None:
    """Forget an operator's cached unread total (a message arrived, they read, assignment changed)."""
    if user_id is not None:
        cache.delete(_unread_key(user_id))
