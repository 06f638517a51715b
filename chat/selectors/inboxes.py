"""Inbox reads for pages: the operator's inbox directory, the widget's inbox by its token."""
from __future__ import annotations

from typing import Any

from chat.models import ChannelType, Inbox, InboxMember
from chat.payloads import user_summary
from chat.selectors.scope import caller_scope


def inbox_directory_for_operator(*, user: Any) -> list[dict[str, Any]]:
    """The inboxes the operator sees (chat/selectors/scope.py), each with its members' summaries
    (names for the inbox filter and the assign menu). Two queries."""
    inboxes = Inbox.objects.filter(caller_scope(user).inbox_q("pk")).order_by("name", "id")
    directory: dict[int, dict[str, Any]] = {inbox.pk: {"id": inbox.pk, "name": inbox.name, "members": []} for inbox in inboxes}
    members = InboxMember.objects.filter(inbox_id__in=directory).select_related("user__operator_profile")
    for member in members.order_by("user__username"):
        directory[member.inbox_id]["members"].append(user_summary(member.user) or {})
    return list(directory.values())


def widget_inbox_for_token(*, website_token: str | None) -> Inbox | None:
    """The web-widget inbox of a public website token, or None."""
    if not website_token:
        return None
    return Inbox.objects.filter(website_token=website_token, channel_type=ChannelType.WEB_WIDGET).first()


def widget_inbox_first() -> Inbox | None:
    """The oldest web-widget inbox (the demo page's default)."""
    return Inbox.objects.filter(channel_type=ChannelType.WEB_WIDGET).order_by("id").first()


def widget_inbox(*, inbox_id: int) -> Inbox:
    """An inbox row by id (a visitor's already authorized inbox: its hours, for the widget)."""
    return Inbox.objects.get(pk=inbox_id)
