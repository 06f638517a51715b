"""Well-typed payloads for tests that dispatch synthetic events (the autouse fixture in
tests/conftest.py checks every dispatched event against chat/event_types.py)."""
from __future__ import annotations

from typing import Any


def message_stub(content: Any = "", *, message_id: int = 0, conversation_id: int = 0) -> dict[str, Any]:
    """A ``message.created`` / ``message.updated`` payload; ``content`` marks it."""
    return {
        "id": message_id, "conversation_id": conversation_id, "content": str(content), "content_type": "text",
        "content_attributes": {}, "direction": "outgoing", "private": False, "echo_id": None, "source_id": None,
        "sender": None, "attachments": [], "created_at": None,
    }


def conversation_stub(marker: Any = None, *, conversation_id: int = 0, inbox_id: int = 0) -> dict[str, Any]:
    """A ``conversation.*`` payload; ``marker`` goes to ``custom_attributes``."""
    return {
        "id": conversation_id, "display_id": conversation_id, "status": "open", "priority": None, "assignee": None,
        "inbox": inbox_id, "branch": None,
        "contact": {"id": 0, "name": "", "display_name": "Visitor 0", "email": None, "phone": None, "identifier": None, "blocked": False},
        "contact_inbox": None, "identifier": None, "waiting_since": None, "first_reply_created_at": None,
        "last_activity_at": None, "contact_last_seen_at": None, "agent_last_seen_at": None, "snoozed_until": None,
        "additional_attributes": {}, "custom_attributes": {} if marker is None else {"marker": marker},
        "created_at": None, "labels": [],
    }
