"""Activity lines as data: who did what, rendered in each reader's language (docs/i18n.md).

An activity message stores ``content_attributes.activity``::

    {"kind": "assigned", "actor": {"type": "user"|"contact", "id", "name"}|null,
     "assignee": {"id", "name"}|null, "status"?, "priority"?, "until"?, "minutes"?,
     "added"?, "removed"?}

and its ``content`` keeps a rendering in the server's language (``settings.LANGUAGE_CODE``), so
old clients, search and transcripts still read text. Readers render the data in their own
language: ``render_activity`` here (REST history, transcripts), ``renderActivity`` in
``frontend/static/frontend/shared/i18n.js`` (panel). The kinds are declared once, in
``ActivityKind``; ``frontend/static/frontend/shared/activity.js`` mirrors them
(tests/test_i18n_server.py keeps them equal, and the browser test renders the same data as the
server does in both languages).

A line whose data this module does not know (free text from ``activity_add(content=...)``, a
kind added by a newer server) renders as its stored ``content``.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from chat.i18n import default_language


class ActivityKind(StrEnum):
    REOPENED = "reopened"  # by a user or the contact (a new message)
    RESOLVED = "resolved"
    PENDING = "pending"
    SNOOZED = "snoozed"  # until
    SNOOZED_UNTIL_REPLY = "snoozed_until_reply"
    SNOOZE_ENDED = "snooze_ended"
    PRIORITY_CHANGED = "priority_changed"  # priority
    ASSIGNED = "assigned"  # assignee, by actor
    AUTO_ASSIGNED = "auto_assigned"  # assignee
    UNASSIGNED = "unassigned"  # by actor
    # assignee released without an actor: why (the reason kinds below)
    RELEASED_DEACTIVATED = "released_deactivated"
    RELEASED_REMOVED = "released_removed"
    RELEASED_OFFLINE = "released_offline"  # minutes
    RELEASED_NOT_MEMBER = "released_not_member"
    ESCALATED = "escalated"  # by actor (or nobody)
    ESCALATED_ASSIGNED = "escalated_assigned"  # assignee, by actor (or nobody)
    ESCALATED_NO_SUPERVISOR = "escalated_no_supervisor"  # by actor (or nobody)
    ACCEPTED_OFFER = "accepted_offer"  # assignee: who accepted the ring offer (the actor too)
    LABELS_CHANGED = "labels_changed"  # added, removed: label names; by actor


# kind -> (text without an actor, text with "{actor}"); "{assignee}", "{until}", "{priority}",
# "{minutes}" are filled from the data. English is the msgid; locale/<lang>/LC_MESSAGES/django.po
# translates. Russian past participles agree with "диалог", never with the actor, so one text
# fits every actor: the actor is named in a short phrase ("оператором Анна", "клиентом").
_TEXTS: dict[ActivityKind, tuple[Any, Any]] = {
    ActivityKind.REOPENED: (_("Conversation was reopened"), _("Conversation was reopened by {actor}")),
    ActivityKind.RESOLVED: (_("Conversation was resolved"), _("Conversation was resolved by {actor}")),
    ActivityKind.PENDING: (_("Conversation was marked pending"), _("Conversation was marked pending by {actor}")),
    ActivityKind.SNOOZED: (_("Conversation was snoozed until {until}"),
                           _("Conversation was snoozed until {until} by {actor}")),
    ActivityKind.SNOOZED_UNTIL_REPLY: (_("Conversation was snoozed until the next reply"),
                                       _("Conversation was snoozed until the next reply by {actor}")),
    ActivityKind.SNOOZE_ENDED: (_("Conversation was reopened after its snooze ended"),
                                _("Conversation was reopened after its snooze ended")),
    ActivityKind.PRIORITY_CHANGED: (_("Priority set to {priority}"), _("Priority set to {priority} by {actor}")),
    ActivityKind.ASSIGNED: (_("Assigned to {assignee}"), _("Assigned to {assignee} by {actor}")),
    ActivityKind.AUTO_ASSIGNED: (_("Assigned to {assignee} (auto)"), _("Assigned to {assignee} (auto)")),
    ActivityKind.UNASSIGNED: (_("Conversation unassigned"), _("Conversation unassigned by {actor}")),
    ActivityKind.RELEASED_DEACTIVATED: (_("Conversation unassigned: {assignee} was deactivated"),
                                        _("Conversation unassigned: {assignee} was deactivated")),
    ActivityKind.RELEASED_REMOVED: (_("Conversation unassigned: {assignee} was removed from the inbox"),
                                    _("Conversation unassigned: {assignee} was removed from the inbox")),
    ActivityKind.RELEASED_OFFLINE: (
        _("Conversation unassigned: {assignee} has been offline for more than {minutes}"),
        _("Conversation unassigned: {assignee} has been offline for more than {minutes}"),
    ),
    ActivityKind.RELEASED_NOT_MEMBER: (_("Conversation unassigned: {assignee} is no longer a member of the inbox"),
                                       _("Conversation unassigned: {assignee} is no longer a member of the inbox")),
    ActivityKind.ESCALATED: (_("Conversation was escalated"), _("Conversation was escalated by {actor}")),
    ActivityKind.ESCALATED_ASSIGNED: (_("Conversation was escalated and assigned to {assignee}"),
                                      _("Conversation was escalated by {actor} and assigned to {assignee}")),
    ActivityKind.ESCALATED_NO_SUPERVISOR: (_("Conversation was escalated; no supervisor is available"),
                                           _("Conversation was escalated by {actor}; no supervisor is available")),
    ActivityKind.ACCEPTED_OFFER: (_("Assigned to {assignee} (accepted the offer)"),
                                  _("Assigned to {assignee} (accepted the offer)")),
    ActivityKind.LABELS_CHANGED: (_("Labels: {changes}"), _("Labels: {changes} by {actor}")),
}

# How an actor is named inside a line (the Russian differs for operators and visitors).
_ACTOR_USER = pgettext_lazy("activity actor: an operator", "{name}")
_ACTOR_CONTACT = pgettext_lazy("activity actor: the visitor", "{name}")
_ACTOR_CONTACT_UNNAMED = pgettext_lazy("activity actor: a visitor without a name", "the contact")
_SOMEONE = pgettext_lazy("activity: a person whose name is unknown", "someone")

_PRIORITIES = {
    "none": pgettext_lazy("priority", "none"),
    "low": pgettext_lazy("priority", "low"),
    "medium": pgettext_lazy("priority", "medium"),
    "high": pgettext_lazy("priority", "high"),
    "urgent": pgettext_lazy("priority", "urgent"),
}


def person(user: Any) -> dict[str, Any] | None:
    """``{"id", "name"}`` of an operator (the name as the panel shows it), None for None."""
    if user is None:
        return None
    from chat.payloads import user_summary

    summary = user_summary(user) or {}
    return {"id": user.pk, "name": str(summary.get("name") or "")}


def actor(*, user: Any = None, contact: Any = None) -> dict[str, Any] | None:
    """Who did it: an operator, the visitor, or None (the system)."""
    if user is not None:
        return {"type": "user", **(person(user) or {})}
    if contact is not None:
        return {"type": "contact", "id": contact.pk, "name": contact.name or ""}
    return None


def activity_data(kind: ActivityKind, *, actor: dict[str, Any] | None = None,
                  assignee: dict[str, Any] | None = None, **details: Any) -> dict[str, Any]:
    """The stored data of one line (``details``: status, priority, until, minutes, added, removed)."""
    data: dict[str, Any] = {"kind": str(kind), "actor": actor, "assignee": assignee}
    for key, value in details.items():
        data[key] = value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value
    return data


def _actor_phrase(who: dict[str, Any]) -> str:
    name = str(who.get("name") or "")
    if who.get("type") == "contact":
        return str(_ACTOR_CONTACT).format(name=name) if name else str(_ACTOR_CONTACT_UNNAMED)
    return str(_ACTOR_USER).format(name=name or str(_SOMEONE))


def _until_text(value: Any) -> str:
    """A snooze's end, readable and unambiguous for any reader: ``2026-12-03 17:00 UTC`` (the
    browser renders it in the reader's own time zone instead)."""
    if not isinstance(value, str):
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _names(value: Any) -> list[str]:
    return [str(name) for name in value] if isinstance(value, list) else []


def label_changes(data: dict[str, Any]) -> str:
    """``+vip +refund −spam``: the same in every language (names are data); the browser builds
    it the same way (shared/i18n.js)."""
    return " ".join([*(f"+{name}" for name in _names(data.get("added"))),
                     *(f"\u2212{name}" for name in _names(data.get("removed")))])


def render_activity(data: Any, language: str | None = None, *, fallback: str = "") -> str:
    """The line in ``language`` (default: the server's), or ``fallback`` for data it does not know."""
    if not isinstance(data, dict):
        return fallback
    try:
        kind = ActivityKind(str(data.get("kind")))
    except ValueError:
        return fallback
    who = data.get("actor") if isinstance(data.get("actor"), dict) else None
    with translation.override(language or default_language()):
        assignee = data.get("assignee") if isinstance(data.get("assignee"), dict) else {}
        minutes: int = data["minutes"] if isinstance(data.get("minutes"), int) else 0
        values = {
            "actor": _actor_phrase(who) if who else "",
            "assignee": str((assignee or {}).get("name") or _SOMEONE),
            "until": _until_text(data.get("until")),
            "priority": str(_PRIORITIES.get(str(data.get("priority")), data.get("priority") or "")),
            "minutes": translation.ngettext("{count} minute", "{count} minutes", minutes).format(count=minutes),
            "changes": label_changes(data),
        }
        template = _TEXTS[kind][1 if who else 0]
        return str(template).format(**values)


def localized_message(payload: dict[str, Any], language: str) -> dict[str, Any]:
    """A message payload whose activity line is rendered in ``language`` (others unchanged)."""
    attributes = payload.get("content_attributes") or {}
    if payload.get("direction") != "activity" or not isinstance(attributes, dict) or "activity" not in attributes:
        return payload
    text = render_activity(attributes["activity"], language, fallback=payload.get("content") or "")
    return {**payload, "content": text}
