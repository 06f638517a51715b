"""How many real-time connections one identity may hold, across every server process.

One owner for the three caps (settings):

* ``WS_MAX_SOCKETS_PER_OPERATOR`` operator sockets per user;
* ``WS_MAX_SOCKETS_PER_VISITOR`` widget sockets per widget token (contact inbox);
* ``WIDGET_STREAMS_PER_TOKEN`` open SSE streams and long-polls per widget token.

Each open connection holds a lease in the shared store (``SharedStore.lease_acquire``: a sorted
set of connection id -> deadline, claimed atomically against the limit). A lease lasts
``ttl`` and its holder renews it while it lives (sockets on their frames, at most every quarter
of it); a process that dies stops renewing, so its connections stop counting after at most
``ttl``. A clean close gives the lease back at once.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings

from chat.store import get_store


@dataclass(frozen=True)
class Lease:
    key: str
    limit: int
    ttl: float
    member: str = field(default_factory=lambda: uuid.uuid4().hex)


def socket_lease_ttl() -> float:
    # A socket renews on any frame, and one silent for WS_IDLE_TIMEOUT_SECONDS is closed: twice
    # that leaves room for a renewal that was in flight.
    return 2 * settings.WS_IDLE_TIMEOUT_SECONDS


def operator_socket_lease(*, user_id: int) -> Lease:
    return Lease(f"conn:operator:{user_id}", settings.WS_MAX_SOCKETS_PER_OPERATOR, socket_lease_ttl())


def widget_socket_lease(*, contact_inbox_id: int) -> Lease:
    return Lease(f"conn:widget:{contact_inbox_id}", settings.WS_MAX_SOCKETS_PER_VISITOR, socket_lease_ttl())


def widget_stream_lease(*, contact_inbox_id: int) -> Lease:
    # A stream or poll ends by itself (SSE_MAX_SECONDS, LONGPOLL_WAIT_SECONDS) and is not renewed.
    ttl = max(settings.SSE_MAX_SECONDS, settings.LONGPOLL_WAIT_SECONDS) + 30
    return Lease(f"conn:widget-stream:{contact_inbox_id}", settings.WIDGET_STREAMS_PER_TOKEN, ttl)


def lease_claim(lease: Lease) -> bool:
    """Take (or renew) the lease; False when the identity already holds ``limit`` others."""
    return get_store().lease_acquire(lease.key, lease.member, now=time.time(), ttl=lease.ttl, limit=lease.limit)


def lease_release(lease: Lease) -> None:
    get_store().lease_release(lease.key, lease.member)
