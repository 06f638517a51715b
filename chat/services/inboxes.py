"""Inboxes and their members (administration)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.activity import ActivityKind, activity_data
from chat.errors import InvalidData
from chat.models import (
    AssignmentMode,
    Branch,
    ChannelType,
    ContactInbox,
    Inbox,
    InboxMember,
    new_hmac_secret,
    new_website_token,
)
from chat.notices import NoticeType, announce
from chat.realtime import control
from chat.realtime.codes import CloseCode
from chat.services.assignee import conversations_release_in_transaction, operator_person
from chat.services.business_hours import validate_timezone, validate_working_hours
from chat.services.inbox_texts import validate_inbox_locale, validate_text, validate_translations
from chat.services.origins import normalize_origin
from chat.validation import clean_text

User = get_user_model()

# Fields an administrator may set on create and update.
INBOX_FIELDS = (
    "name",
    "branch",
    "channel_type",
    "enable_auto_assignment",
    "max_assignment_limit",
    "assignment_rate_limit",
    "greeting",
    "business_hours",  # deprecated alias of timezone + working_hours (_apply translates it)
    "allowed_origins",
    "reopen_resolved_conversations",
    "sneak_peek",
    "csat_survey_enabled",
    "timezone",
    "working_hours",
    "out_of_office_message",
    "assignment_mode",
    "ring_timeout_seconds",
    "csat_question",
    "locale",
    "translations",
)

# Ring mode's timeout bounds (seconds): long enough to notice and click, short enough that a
# visitor is not left waiting on an operator who is away.
RING_TIMEOUT_MIN_SECONDS = 5
RING_TIMEOUT_MAX_SECONDS = 600

# Changes after which assignment looks at the inbox again (notice ``inbox.settings_changed``).
ASSIGNMENT_SETTINGS = frozenset(
    {"enable_auto_assignment", "assignment_mode", "max_assignment_limit", "assignment_rate_limit", "ring_timeout_seconds"}
)

def validate_origins(origins: Any) -> list[str]:
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise InvalidData(_("allowed_origins must be a list of origins."), fields={"allowed_origins": [_("A list of strings.")]})
    cleaned = []
    for origin in origins:
        value = normalize_origin(origin)
        if value is None:
            raise InvalidData(
                _("An allowed origin is scheme://host[:port]."), fields={"allowed_origins": [format_lazy(_("Not an origin: {origin}."), origin=repr(origin))]}
            )
        if value not in cleaned:
            cleaned.append(value)
    return cleaned

def _legacy_business_hours(value: Any) -> dict[str, Any]:
    """The first release's ``business_hours`` ``{"timezone"?, "days"?}`` as the new fields."""
    if not isinstance(value, dict) or set(value) - {"timezone", "days"}:
        raise InvalidData(_("business_hours is {\"timezone\", \"days\"} (deprecated: use timezone and working_hours)."),
                          fields={"business_hours": [_("An object with timezone and days.")]})
    translated: dict[str, Any] = {"working_hours": value.get("days") or None}
    if "timezone" in value:
        translated["timezone"] = value["timezone"]
    return translated


def _apply(inbox: Inbox, values: dict[str, Any]) -> None:
    if "business_hours" in values:  # the new fields, when given too, win
        values = {**_legacy_business_hours(values["business_hours"]), **values}
    for key, value in values.items():
        if key not in INBOX_FIELDS or key == "business_hours":
            continue
        if key == "timezone":
            value = validate_timezone(value)
        if key == "working_hours":
            value = validate_working_hours(value)
        if key == "out_of_office_message":
            value = clean_text(str(value or ""), field="out_of_office_message")
            if len(value) > 10_000:
                raise InvalidData(_("out_of_office_message is too long."),
                                  fields={"out_of_office_message": [_("At most 10,000 characters.")]})
        if key == "csat_question":
            value = validate_text("csat_question", value)
        if key == "locale":
            value = validate_inbox_locale(value)
        if key == "translations":
            value = validate_translations(value)
        if key == "allowed_origins":
            value = validate_origins(value)
        if key == "channel_type" and value not in ChannelType.values:
            raise InvalidData(_("Unknown channel type."), fields={"channel_type": [format_lazy(_("One of {choices}."), choices=", ".join(ChannelType.values))]})
        if key == "assignment_mode" and value not in AssignmentMode.values:
            raise InvalidData(_("Unknown assignment mode."), fields={"assignment_mode": [format_lazy(_("One of {choices}."), choices=", ".join(AssignmentMode.values))]})
        if key == "ring_timeout_seconds" and not (
            isinstance(value, int) and not isinstance(value, bool)
            and RING_TIMEOUT_MIN_SECONDS <= value <= RING_TIMEOUT_MAX_SECONDS
        ):
            raise InvalidData(
                _("ring_timeout_seconds is out of range."),
                fields={"ring_timeout_seconds": [format_lazy(_("An integer from {low} to {high}."),
                                                             low=RING_TIMEOUT_MIN_SECONDS, high=RING_TIMEOUT_MAX_SECONDS)]},
            )
        if key == "branch" and value is not None and not isinstance(value, Branch):
            value = Branch.objects.filter(pk=value).first()
            if value is None:
                raise InvalidData(_("Unknown branch."), fields={"branch": [_("No such branch.")]})
        setattr(inbox, key, value)

@transaction.atomic
def inbox_create(**values: Any) -> Inbox:
    """Create an inbox (website token and HMAC secret generated)."""
    inbox = Inbox()
    _apply(inbox, values)
    if not inbox.name:
        raise InvalidData(_("An inbox needs a name."), fields={"name": [_("This field is required.")]})
    inbox.save()
    return inbox

@transaction.atomic
def inbox_update(*, inbox: Inbox, **values: Any) -> Inbox:
    """Change an inbox's settings; a change of how it assigns (mode, auto-assignment, limits)
    is announced after commit (assignment ends offers of an inbox that stopped ringing and
    serves its waiting conversations)."""
    before = {key: getattr(inbox, key) for key in ASSIGNMENT_SETTINGS}
    _apply(inbox, values)
    inbox.save()
    changed = sorted(key for key in ASSIGNMENT_SETTINGS if getattr(inbox, key) != before[key])
    if changed:
        announce(NoticeType.INBOX_SETTINGS_CHANGED, inbox_id=inbox.pk, payload={"fields": changed})
    return inbox

@transaction.atomic
def inbox_rotate_website_token(*, inbox: Inbox) -> Inbox:
    """A new public website token: embeds with the old one stop opening sessions (existing
    visitors keep their pubsub tokens)."""
    inbox.website_token = new_website_token()
    inbox.save(update_fields=["website_token"])
    return inbox

@transaction.atomic
def inbox_rotate_hmac_secret(*, inbox: Inbox) -> Inbox:
    """A new identity-verification secret: identifier hashes made with the old one are refused."""
    inbox.hmac_secret = new_hmac_secret()
    inbox.save(update_fields=["hmac_secret"])
    return inbox

def inbox_member_ids(*, inbox: Inbox) -> list[int]:
    return list(InboxMember.objects.filter(inbox=inbox).order_by("user_id").values_list("user_id", flat=True))

@dataclass(frozen=True)
class MembershipChange:
    inbox_id: int
    added: list[int]
    removed: list[int]
    member_ids: list[int]
    # Conversations released because their assignee left the inbox.
    released: list[int] = field(default_factory=list)

def _check_users(user_ids: Iterable[Any]) -> list[int]:
    try:
        ids = sorted({int(u) for u in user_ids})
    except (TypeError, ValueError):
        raise InvalidData(_("user_ids must be integers."), fields={"user_ids": [_("A list of user ids.")]}) from None
    found = set(User.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))
    missing = [u for u in ids if u not in found]
    if missing:
        raise InvalidData(_("Unknown or inactive users."), fields={"user_ids": [format_lazy(_("Unknown or inactive: {ids}."), ids=missing)]})
    return ids

def _lock_inbox(inbox: Inbox) -> None:
    """Serialize membership edits of one inbox (lock order: inbox, member rows, conversations).

    ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: transactions that wrote rows referencing the
    inbox (events, an assignment in flight) take ``FOR KEY SHARE`` on it at COMMIT (deferred
    foreign keys); a removal waiting for such an assignment's member row while holding
    ``FOR UPDATE`` here would deadlock with that commit."""
    list(Inbox.objects.select_for_update(no_key=True).filter(pk=inbox.pk).values_list("pk", flat=True))

def _apply_membership(inbox: Inbox, *, add: list[int], remove: list[int]) -> MembershipChange:
    """Add and remove members; release what removed members held in the inbox; tell their
    sockets (re-scope) and the other apps (a notice) after commit."""
    existing = set(InboxMember.objects.filter(inbox=inbox).values_list("user_id", flat=True))
    added = [u for u in add if u not in existing]
    removed = sorted(u for u in set(remove) if u in existing)
    # Deleting a member row waits for assigners holding it (``inbox_member_hold``); once it
    # is gone no new assignment to that operator can commit in this inbox, and the scan below
    # (a later statement: a fresh snapshot) sees every one that did.
    InboxMember.objects.filter(inbox=inbox, user_id__in=removed).delete()
    InboxMember.objects.bulk_create([InboxMember(inbox=inbox, user_id=u) for u in added], ignore_conflicts=True)
    released: list[int] = []
    for user_id in removed:
        released += conversations_release_in_transaction(
            user_id=user_id,
            inbox_id=inbox.pk,
            activity=activity_data(ActivityKind.RELEASED_REMOVED, assignee=operator_person(user_id)),
        )
    for user_id in [*added, *removed]:
        control.notify_membership_changed(user_id=user_id)
    if added or removed:
        announce(NoticeType.INBOX_MEMBERS_CHANGED, inbox_id=inbox.pk, payload={"added": added, "removed": removed})
    return MembershipChange(inbox.pk, added, removed, inbox_member_ids(inbox=inbox), released)

@transaction.atomic
def inbox_members_add(*, inbox: Inbox, user_ids: Iterable[Any]) -> MembershipChange:
    """Add operators to an inbox (existing members are left as they are)."""
    ids = _check_users(user_ids)
    _lock_inbox(inbox)
    return _apply_membership(inbox, add=ids, remove=[])

@transaction.atomic
def inbox_members_set(*, inbox: Inbox, user_ids: Iterable[Any]) -> MembershipChange:
    """Make the members exactly ``user_ids`` (those removed lose their unresolved
    conversations in the inbox, as with ``inbox_member_remove``)."""
    ids = _check_users(user_ids)
    _lock_inbox(inbox)
    existing = set(InboxMember.objects.filter(inbox=inbox).values_list("user_id", flat=True))
    return _apply_membership(inbox, add=ids, remove=sorted(existing - set(ids)))

@transaction.atomic
def inbox_member_remove(*, inbox: Inbox, user_id: int) -> MembershipChange:
    """Remove one operator from an inbox: every conversation they hold there that is not
    resolved (open, pending, snoozed) is released with an activity line and events, their
    sockets are re-scoped, assignment serves the inbox again. ``removed`` is empty if they
    were not a member. (Resolved ones keep their history; if one reopens, assignment releases
    it then: assignment/reactions.py.)"""
    _lock_inbox(inbox)
    return _apply_membership(inbox, add=[], remove=[int(user_id)])

def inbox_member_hold(*, inbox_id: int, user_id: int) -> bool:
    """Whether the operator is a member of the inbox, keeping it so until the caller's
    transaction ends (PostgreSQL ``FOR KEY SHARE`` on the member row: concurrent assigners do
    not block each other, a removal waits for them). Assignment calls it before it commits an
    assignment to that operator, so no assignment of a removed member survives the removal."""
    if connection.vendor != "postgresql":
        return InboxMember.objects.filter(inbox_id=inbox_id, user_id=user_id).exists()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {InboxMember._meta.db_table} WHERE inbox_id = %s AND user_id = %s FOR KEY SHARE",
            [inbox_id, user_id],
        )
        return cursor.fetchone() is not None

@transaction.atomic
def inbox_delete(*, inbox: Inbox) -> None:
    """Delete an inbox with its conversations, contact inboxes and events. Its members'
    sockets are re-scoped and the widgets' sockets closed (their token no longer exists),
    after commit."""
    _lock_inbox(inbox)
    member_ids = inbox_member_ids(inbox=inbox)
    contact_inbox_ids = list(ContactInbox.objects.filter(inbox=inbox).values_list("pk", flat=True))
    inbox_id = inbox.pk
    inbox.delete()
    for user_id in member_ids:
        control.notify_membership_changed(user_id=user_id)
    control.close_contact_inbox_sockets(contact_inbox_ids=contact_inbox_ids, code=CloseCode.UNAUTHORIZED)
    announce(NoticeType.INBOX_DELETED, inbox_id=inbox_id, payload={"removed": member_ids})
