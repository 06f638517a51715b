"""What the socket consumers (and the REST profile) tell presence.

Synchronous; consumers call them through ``database_sync_to_async``. Signatures are fixed:
the real-time and REST code depend on them. The rules live in presence/tracker.py.
"""
from __future__ import annotations

from django.db import transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidData
from chat.models import Availability, OperatorProfile
from presence.tracker import get_tracker


def operator_socket_opened(*, user_id: int, socket_id: str) -> None:
    """An operator's socket connected (any tab, any process). Publishes ``online`` (or
    ``busy``) if they were offline; a second tab publishes nothing."""
    get_tracker().set_online(user_id=user_id, socket_id=socket_id)


def operator_socket_heartbeat(*, user_id: int, socket_id: str) -> None:
    """An operator's socket is still alive (every ping, at least every PRESENCE_HEARTBEAT_SECONDS)."""
    get_tracker().heartbeat(user_id=user_id, socket_id=socket_id)


def operator_socket_closed(*, user_id: int, socket_id: str) -> None:
    """An operator's socket disconnected cleanly. Offline is published only after the grace
    (PRESENCE_GRACE_SECONDS) and only if no other socket of theirs is left."""
    get_tracker().set_offline(user_id=user_id, socket_id=socket_id)


def contact_socket_opened(*, contact_id: int, inbox_id: int, socket_id: str) -> None:
    """A visitor's widget socket connected."""
    get_tracker().contact_set_online(contact_id=contact_id, inbox_id=inbox_id, socket_id=socket_id)


def contact_socket_heartbeat(*, contact_id: int, inbox_id: int, socket_id: str) -> None:
    """A visitor's widget socket is still alive."""
    get_tracker().contact_set_online(contact_id=contact_id, inbox_id=inbox_id, socket_id=socket_id)


def contact_socket_closed(*, contact_id: int, inbox_id: int, socket_id: str) -> None:
    """A visitor's widget socket disconnected cleanly."""
    get_tracker().contact_set_offline(contact_id=contact_id, inbox_id=inbox_id, socket_id=socket_id)


def operator_set_availability(*, user_id: int, availability: str) -> str:
    """The operator chose online, busy or offline (socket ``presence.set`` and REST profile).

    Returns the stored availability. Raises chat.errors.InvalidData for an unknown value.
    Publishes ``presence.updated`` if their effective status changed (busy → online also
    lets waiting conversations reach them, through assignment's subscription).
    """
    if availability not in Availability.values:
        raise InvalidData(_("Unknown availability."), fields={"status": [format_lazy(_("One of {choices}."), choices=", ".join(Availability.values))]})
    with transaction.atomic():
        OperatorProfile.objects.update_or_create(user_id=user_id, defaults={"availability": availability})
        get_tracker().reconcile(user_id)
    return availability


def inbox_operators_available(*, inbox_id: int) -> bool:
    """Whether any operator of the inbox is online and available (the widget shows it)."""
    return bool(get_tracker().get_available_users(inbox_id))


def contact_is_online(*, contact_id: int, inbox_id: int | None = None) -> bool:
    """Whether any widget socket of the visitor (in that inbox) is connected."""
    return get_tracker().contact_is_online(contact_id, inbox_id=inbox_id)
