"""What the socket consumers tell presence. Synchronous; consumers call them through
``database_sync_to_async``. The presence issue fills these in (presence/tracker.py)."""
from __future__ import annotations


def operator_socket_opened(*, user_id: int, socket_id: str) -> None:
    """An operator's socket connected (any tab, any process)."""


def operator_socket_heartbeat(*, user_id: int, socket_id: str) -> None:
    """An operator's socket is still alive (called on every ping / periodically)."""


def operator_socket_closed(*, user_id: int, socket_id: str) -> None:
    """An operator's socket disconnected cleanly."""


def contact_socket_opened(*, contact_id: int, inbox_id: int, socket_id: str) -> None:
    """A visitor's widget socket connected."""


def contact_socket_heartbeat(*, contact_id: int, inbox_id: int, socket_id: str) -> None:
    """A visitor's widget socket is still alive."""


def contact_socket_closed(*, contact_id: int, inbox_id: int, socket_id: str) -> None:
    """A visitor's widget socket disconnected cleanly."""


def operator_set_availability(*, user_id: int, availability: str) -> str:
    """The operator chose online, busy or offline (socket ``presence.set`` and REST profile).

    Returns the stored availability. Raises chat.errors.InvalidData for an unknown value.
    """
    from chat.errors import InvalidData
    from chat.models import Availability, OperatorProfile

    if availability not in Availability.values:
        raise InvalidData("Unknown availability.", fields={"status": [f"One of {Availability.values}."]})
    OperatorProfile.objects.update_or_create(user_id=user_id, defaults={"availability": availability})
    return availability


def inbox_operators_available(*, inbox_id: int) -> bool:
    """Whether any operator of the inbox is online and available (the widget shows it)."""
    return False
