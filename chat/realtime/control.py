"""Control messages on the channel layer: the only non-event traffic to consumers.

The channel layer carries pokes, ephemeral frames and these control messages, never durable
event payloads (those come from the outbox, chat/realtime/hub.py). Other apps send them through
the helpers below so that the type names are spelled once.

* ``membership.changed`` to ``user_group(user_id)``: the operator's inboxes changed; open
  sockets re-read them and follow without reconnecting.
* ``socket.close`` with ``code`` to ``user_group(user_id)`` or ``contact_inbox_group(id)``:
  close those sockets (operator deactivated, contact blocked).
* ``ephemeral.frame`` with ``frame`` and ``exclude_channel``: forward ``frame`` (typing) to the
  socket unless it is the sender's own (chat/services/typing.py).
"""
from __future__ import annotations

from chat.events import contact_inbox_group, notify_group, user_group
from chat.realtime.codes import CloseCode
from chat.services.typing import EPHEMERAL_MESSAGE_TYPE

MEMBERSHIP_CHANGED = "membership.changed"
SOCKET_CLOSE = "socket.close"
EPHEMERAL_FRAME = EPHEMERAL_MESSAGE_TYPE


def notify_membership_changed(*, user_id: int) -> None:
    """The operator's inbox memberships (or role) changed: their open sockets follow."""
    notify_group(user_group(user_id), {"type": MEMBERSHIP_CHANGED})


def close_operator_sockets(*, user_id: int, code: int = CloseCode.FORBIDDEN) -> None:
    """Close every socket of an operator (e.g. deactivated), in every process."""
    notify_group(user_group(user_id), {"type": SOCKET_CLOSE, "code": int(code)})


def close_contact_sockets(*, contact_id: int, code: int = CloseCode.FORBIDDEN) -> None:
    """Close every widget socket of a contact (e.g. blocked), in every inbox and process."""
    from chat.models import ContactInbox

    for contact_inbox_id in ContactInbox.objects.filter(contact_id=contact_id).values_list("pk", flat=True):
        notify_group(contact_inbox_group(contact_inbox_id), {"type": SOCKET_CLOSE, "code": int(code)})
