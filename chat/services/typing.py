"""Typing indicators: ephemeral frames (no id, not stored), sent to the other side only."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from chat.errors import NotFound
from chat.event_types import ControlType
from chat.events import EphemeralType, contact_inbox_group, inbox_group, notify_group
from chat.models import Conversation

# Control-message type the consumers handle: forward ``frame`` to the socket unless it is the
# sender's own socket (``exclude_channel``).
EPHEMERAL_MESSAGE_TYPE = ControlType.EPHEMERAL_FRAME.value


def typing_set(
    *,
    conversation_id: int,
    typing: bool,
    side: str,
    user: dict[str, Any] | None = None,
    exclude_channel: str | None = None,
) -> None:
    """Broadcast that the contact (``side="contact"``) or an operator (``side="agent"``) started
    or stopped typing. Contact typing goes to the inbox's operators; operator typing goes to the
    visitor's widgets. Receivers hide the indicator after ``expires_in`` seconds without news,
    so a client that vanishes mid-typing never leaves it on."""
    row = Conversation.objects.filter(pk=conversation_id).values("inbox_id", "contact_inbox_id").first()
    if row is None:
        raise NotFound(_("Conversation not found."))
    frame = {
        "type": str(EphemeralType.TYPING_STARTED if typing else EphemeralType.TYPING_STOPPED),
        "conversation_id": conversation_id,
        "data": {"side": side, "user": user, "expires_in": settings.TYPING_TIMEOUT_SECONDS},
    }
    group = inbox_group(row["inbox_id"]) if side == "contact" else contact_inbox_group(row["contact_inbox_id"])
    notify_group(group, {"type": EPHEMERAL_MESSAGE_TYPE, "frame": frame, "exclude_channel": exclude_channel})
