"""Inboxes and their members (administration)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from chat.errors import InvalidData
from chat.events import notify_group, user_group
from chat.models import Branch, ChannelType, Inbox, InboxMember, new_hmac_secret, new_website_token
from chat.services.origins import normalize_origin

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
    "business_hours",
    "allowed_origins",
    "reopen_resolved_conversations",
)

MEMBERSHIP_CHANGED = {"type": "membership.changed"}


def validate_origins(origins: Any) -> list[str]:
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise InvalidData("allowed_origins must be a list of origins.", fields={"allowed_origins": ["A list of strings."]})
    cleaned = []
    for origin in origins:
        value = normalize_origin(origin)
        if value is None:
            raise InvalidData(
                "An allowed origin is scheme://host[:port].", fields={"allowed_origins": [f"Not an origin: {origin!r}."]}
            )
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


def _apply(inbox: Inbox, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key not in INBOX_FIELDS:
            continue
        if key == "allowed_origins":
            value = validate_origins(value)
        if key == "channel_type" and value not in ChannelType.values:
            raise InvalidData("Unknown channel type.", fields={"channel_type": [f"One of {ChannelType.values}."]})
        if key == "branch" and value is not None and not isinstance(value, Branch):
            value = Branch.objects.filter(pk=value).first()
            if value is None:
                raise InvalidData("Unknown branch.", fields={"branch": ["No such branch."]})
        setattr(inbox, key, value)


@transaction.atomic
def inbox_create(**values: Any) -> Inbox:
    """Create an inbox (website token and HMAC secret generated)."""
    inbox = Inbox()
    _apply(inbox, values)
    if not inbox.name:
        raise InvalidData("An inbox needs a name.", fields={"name": ["This field is required."]})
    inbox.save()
    return inbox


@transaction.atomic
def inbox_update(*, inbox: Inbox, **values: Any) -> Inbox:
    _apply(inbox, values)
    inbox.save()
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


def _check_users(user_ids: Iterable[Any]) -> list[int]:
    try:
        ids = sorted({int(u) for u in user_ids})
    except (TypeError, ValueError):
        raise InvalidData("user_ids must be integers.", fields={"user_ids": ["A list of user ids."]}) from None
    found = set(User.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))
    missing = [u for u in ids if u not in found]
    if missing:
        raise InvalidData("Unknown or inactive users.", fields={"user_ids": [f"Unknown or inactive: {missing}."]})
    return ids


def _notify(user_ids: Iterable[int]) -> None:
    for user_id in user_ids:
        notify_group(user_group(user_id), dict(MEMBERSHIP_CHANGED))


@transaction.atomic
def inbox_members_add(*, inbox: Inbox, user_ids: Iterable[Any]) -> MembershipChange:
    """Add operators to an inbox (existing members are left as they are)."""
    ids = _check_users(user_ids)
    Inbox.objects.select_for_update(no_key=True).filter(pk=inbox.pk).first()  # serialize membership edits
    existing = set(InboxMember.objects.filter(inbox=inbox).values_list("user_id", flat=True))
    added = [u for u in ids if u not in existing]
    InboxMember.objects.bulk_create([InboxMember(inbox=inbox, user_id=u) for u in added], ignore_conflicts=True)
    _notify(added)
    return MembershipChange(inbox.pk, added, [], inbox_member_ids(inbox=inbox))


@transaction.atomic
def inbox_members_set(*, inbox: Inbox, user_ids: Iterable[Any]) -> MembershipChange:
    """Make the members exactly ``user_ids``."""
    ids = _check_users(user_ids)
    Inbox.objects.select_for_update(no_key=True).filter(pk=inbox.pk).first()
    existing = set(InboxMember.objects.filter(inbox=inbox).values_list("user_id", flat=True))
    added = [u for u in ids if u not in existing]
    removed = sorted(existing - set(ids))
    InboxMember.objects.filter(inbox=inbox, user_id__in=removed).delete()
    InboxMember.objects.bulk_create([InboxMember(inbox=inbox, user_id=u) for u in added], ignore_conflicts=True)
    _notify([*added, *removed])
    return MembershipChange(inbox.pk, added, removed, inbox_member_ids(inbox=inbox))


@transaction.atomic
def inbox_member_remove(*, inbox: Inbox, user_id: int) -> MembershipChange:
    """Remove one operator from an inbox; ``removed`` is empty if they were not a member."""
    deleted, _ = InboxMember.objects.filter(inbox=inbox, user_id=user_id).delete()
    removed = [user_id] if deleted else []
    _notify(removed)
    return MembershipChange(inbox.pk, [], removed, inbox_member_ids(inbox=inbox))
