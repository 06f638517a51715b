"""Assignment services (DESIGN.md §6). Filled in by the presence/assignment issue.

Signatures are fixed here so that the socket consumers and REST views can call them.
"""
from __future__ import annotations

from typing import Any

from chat.models import Conversation


def assign_conversation(*, conversation_id: int, assignee_id: int | None, actor: Any) -> Conversation:
    """Manual assignment (or release with ``assignee_id=None``) by an operator."""
    raise NotImplementedError


def auto_assign_conversation(*, conversation_id: int) -> Conversation | None:
    """Assign an unassigned open conversation to the next available operator, if any."""
    raise NotImplementedError


def escalate_conversation(*, conversation_id: int, actor: Any | None) -> Conversation:
    """Priority urgent, a fair pick among available supervisors of the branch, an activity line."""
    raise NotImplementedError
