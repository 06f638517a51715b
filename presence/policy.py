"""Pure presence rules: deadlines and the effective status, from plain data and ``now``."""
from __future__ import annotations

ONLINE = "online"
BUSY = "busy"
OFFLINE = "offline"


def effective_status(*, connected: bool, availability: str) -> str:
    """What others see: offline without a live socket, else the operator's chosen availability."""
    if not connected:
        return OFFLINE
    return availability if availability in (ONLINE, BUSY, OFFLINE) else ONLINE


def socket_deadline(*, now: float, ttl: float) -> float:
    """A socket counts until this time unless a heartbeat pushes it on (heartbeats come every
    PRESENCE_HEARTBEAT_SECONDS, well below the TTL, so a throttled background tab survives)."""
    return now + ttl


def closed_socket_deadline(*, now: float, grace: float) -> float:
    """A cleanly closed socket still counts for ``grace`` seconds, so a reload does not flap."""
    return now + grace
