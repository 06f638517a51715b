"""Calls from the REST transport into the assignment app (DESIGN.md §6), in one place.

chat's domain never imports assignment (STYLE.md §12); the transport may. Membership changes
must reach the round robin (queue rebuilt from InboxMember, waiting conversations served) and
release a removed operator's conversations in that inbox; a deactivated operator's open
conversations are released at once (rather than after the offline release delay).
"""
from __future__ import annotations

from django.db import transaction

from assignment import services as assignment


def inbox_members_changed(*, inbox_id: int, added: list[int], removed: list[int]) -> None:
    """Rebuild the inbox's rotation and release removed operators' conversations (after commit)."""
    if not added and not removed:
        return
    assignment.inbox_members_changed(inbox_id=inbox_id, removed_user_ids=removed)


def operator_deactivated(*, user_id: int, name: str) -> None:
    """Release the deactivated operator's open conversations, after commit."""

    def run() -> None:
        assignment.release_conversations(
            user_id=user_id, activity=f"Conversation unassigned: {name} was deactivated"
        )

    transaction.on_commit(run)
