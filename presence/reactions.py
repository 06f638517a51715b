"""Presence's reactions to chat's in-process notices (chat/notices.py), registered in
PresenceConfig.ready()."""
from __future__ import annotations

from chat.notices import Notice, NoticeType, listen
from presence.tracker import get_tracker


def on_notice(notice: Notice) -> None:
    if notice.type == NoticeType.INBOX_MEMBERS_CHANGED and notice.inbox_id is not None:
        get_tracker().publish_inbox_availability([notice.inbox_id])


def register() -> None:
    listen(on_notice, types={NoticeType.INBOX_MEMBERS_CHANGED})
