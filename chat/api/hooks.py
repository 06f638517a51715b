"""Calls from the REST transport into the assignment app (DESIGN.md §6), in one place.

chat's domain never imports assignment (STYLE.md §12); the transport may. Membership changes
must reach the round robin (queue rebuilt from InboxMember) and release a removed operator's
conversations in that inbox; a deactivated operator's conversations are released too.
"""
from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def _assignment_function(name: str) -> Any:
    from assignment import services

    return getattr(services, name, None)


def inbox_members_changed(*, inbox_id: int, added: list[int], removed: list[int]) -> None:
    """After commit: rebuild the inbox's queue; release removed operators' conversations there."""
    if not added and not removed:
        return

    def run() -> None:
        hook = _assignment_function("inbox_members_changed")
        if hook is None:
            logger.info("assignment.services.inbox_members_changed is not available; queue rebuilt lazily")
            return
        hook(inbox_id=inbox_id, added_user_ids=added, removed_user_ids=removed)

    transaction.on_commit(run)


def operator_deactivated(*, user_id: int) -> None:
    """After commit: release the deactivated operator's conversations."""

    def run() -> None:
        hook = _assignment_function("operator_deactivated")
        if hook is None:
            logger.info("assignment.services.operator_deactivated is not available")
            return
        hook(user_id=user_id)

    transaction.on_commit(run)
