"""Control messages on the channel layer: the one vocabulary, and the only module that sends them.

The channel layer carries pokes, ephemeral frames and these control messages, never durable
event payloads (those come from the outbox, chat/realtime/hub.py). Services call the functions
below; each message is sent after the caller's transaction commits (``notify_group``), to every
process (the layer's groups span processes), so a revocation reaches every live socket within
the layer's latency.

* ``membership.changed`` to ``user_group(user_id)``: the operator's inboxes or role changed;
  open sockets re-read their scope (chat/selectors/scope.py) and follow without reconnecting
  (a demoted administrator keeps only their member inboxes; an inactive account is closed).
* ``socket.close`` with ``code`` to ``user_group(user_id)`` or ``contact_inbox_group(id)``:
  close those sockets (operator deactivated: 4403; every credential of the operator revoked,
  e.g. a password change: 4401; contact blocked: 4403). Widget SSE and long-poll requests
  listening on the contact inbox's group end too (chat/api/stream_views.py).
* ``credential.revoked`` with ``fingerprint`` and ``code`` to ``user_group(user_id)``: close
  only the operator sockets authenticated by that token or session (logout); the operator's
  other sessions stay. The fingerprint is a keyed hash (``credential_fingerprint``): the token
  or session key itself never leaves the process that holds it.
* ``ephemeral.frame`` with ``frame`` and ``exclude_channel``: forward ``frame`` (typing) to the
  socket unless it is the sender's own (chat/services/typing.py).
"""
from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum

from django.conf import settings

from chat.event_types import ControlType
from chat.events import contact_inbox_group, notify_group, user_group
from chat.realtime.codes import CloseCode

# The names are declared once, with their payload types, in chat/event_types.py.
MEMBERSHIP_CHANGED = ControlType.MEMBERSHIP_CHANGED.value
SOCKET_CLOSE = ControlType.SOCKET_CLOSE.value
CREDENTIAL_REVOKED = ControlType.CREDENTIAL_REVOKED.value
EPHEMERAL_FRAME = ControlType.EPHEMERAL_FRAME.value


class CredentialKind(StrEnum):
    TOKEN = "token"
    SESSION = "session"


def credential_fingerprint(kind: CredentialKind | str, key: str) -> str:
    """A stable, non-reversible name for a token or session key (HMAC with SECRET_KEY)."""
    message = f"{kind}:{key}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:40]


def notify_membership_changed(*, user_id: int) -> None:
    """The operator's inbox memberships (or role) changed: their open sockets follow."""
    notify_group(user_group(user_id), {"type": MEMBERSHIP_CHANGED})


def close_operator_sockets(*, user_id: int, code: int = CloseCode.FORBIDDEN) -> None:
    """Close every socket of an operator, in every process (deactivated: 4403; every
    credential revoked: 4401)."""
    notify_group(user_group(user_id), {"type": SOCKET_CLOSE, "code": int(code)})


def revoke_operator_credential(*, user_id: int, kind: CredentialKind | str, key: str) -> None:
    """Close the operator's sockets that authenticated with this token or session key (4401),
    in every process; their other sockets stay."""
    notify_group(
        user_group(user_id),
        {"type": CREDENTIAL_REVOKED, "fingerprint": credential_fingerprint(kind, key),
         "code": int(CloseCode.UNAUTHORIZED)},
    )


def revoke_operator_credentials(*, user_id: int) -> None:
    """Every credential of the operator is void (password changed): close all their sockets
    with 4401 (the client must log in again)."""
    close_operator_sockets(user_id=user_id, code=CloseCode.UNAUTHORIZED)


def close_contact_inbox_sockets(*, contact_inbox_ids: list[int], code: int = CloseCode.FORBIDDEN) -> None:
    """Close the widget sockets, SSE streams and long-polls of these contact inboxes."""
    for contact_inbox_id in contact_inbox_ids:
        notify_group(contact_inbox_group(contact_inbox_id), {"type": SOCKET_CLOSE, "code": int(code)})


def close_contact_sockets(*, contact_id: int, code: int = CloseCode.FORBIDDEN) -> None:
    """Close every widget socket and stream of a contact (e.g. blocked), in every inbox and
    process."""
    from chat.models import ContactInbox

    ids = list(ContactInbox.objects.filter(contact_id=contact_id).values_list("pk", flat=True))
    close_contact_inbox_sockets(contact_inbox_ids=ids, code=code)
