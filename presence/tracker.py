"""Online status from sockets (DESIGN.md §6).

Live state, in the shared store (so every server process sees every socket):

* ``presence:user:<id>`` — a sorted set of the operator's socket ids, each scored by the time
  it stops counting: ``now + PRESENCE_TTL_SECONDS`` at connect and at every heartbeat, so the
  sockets of a process that died without a disconnect stop counting after the TTL; a clean
  disconnect re-scores its socket to ``now + PRESENCE_GRACE_SECONDS`` so that a page reload
  (close, then open within the grace) never shows the operator offline;
* ``presence:alive`` — one sorted set of operator ids scored by their latest socket deadline:
  one read answers "who is connected" for a whole inbox;
* ``presence:user:<id>:seen`` — the status last published and the chosen availability, a
  cache that lets a heartbeat skip the database when nothing changed.

Published state, in the database (``OperatorPresence``): the effective status everyone was
told. A transition locks that row, recomputes from the store, and writes and broadcasts only
if the status really changed: a second tab, a heartbeat, or two processes (or two workers)
noticing the same change publish nothing twice. Going offline is finalized by the worker
(``chat_worker``), once the grace or TTL has passed; reads (``get_available_users``) already
honour the deadlines exactly, so assignment never waits for the worker.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction

from chat.events import EventDraft, EventType, dispatch_all
from chat.models import Audience, Inbox, InboxMember, OperatorProfile
from chat.store import SharedStore, get_store
from presence import clock
from presence.models import OperatorPresence
from presence.policy import OFFLINE, ONLINE, closed_socket_deadline, effective_status, socket_deadline
from presence.selectors import published_statuses

ALIVE_KEY = "presence:alive"
_EPSILON = 1e-6


def _user_key(user_id: int) -> str:
    return f"presence:user:{user_id}"


def _seen_key(user_id: int) -> str:
    return f"presence:user:{user_id}:seen"


def _contact_key(contact_id: int) -> str:
    return f"presence:contact:{contact_id}"


def _inbox_available_key(inbox_id: int) -> str:
    return f"presence:inbox:{inbox_id}:available"


def as_datetime(now: float) -> datetime:
    return datetime.fromtimestamp(now, tz=UTC)


class OnlineStatusTracker:
    """Operators' and contacts' online status. Every method takes an optional ``now`` (epoch
    seconds) so that time-dependent rules are tested with a controllable clock."""

    def __init__(
        self,
        *,
        store: SharedStore | None = None,
        ttl: float | None = None,
        grace: float | None = None,
        heartbeat: float | None = None,
    ) -> None:
        self.store = store or get_store()
        self.ttl = float(settings.PRESENCE_TTL_SECONDS if ttl is None else ttl)
        self.grace = float(settings.PRESENCE_GRACE_SECONDS if grace is None else grace)
        self.heartbeat_seconds = float(settings.PRESENCE_HEARTBEAT_SECONDS if heartbeat is None else heartbeat)

    # --- Sockets ------------------------------------------------------------------------------

    def _touch(self, user_id: int, socket_id: str, now: float) -> None:
        deadline = socket_deadline(now=now, ttl=self.ttl)
        key = _user_key(user_id)
        # Forget sockets long dead so the set stays small; the key itself outlives the TTL.
        self.store.zadd_trim(key, {socket_id: deadline}, below=now - self.ttl, ttl=self.ttl * 2 + self.grace + 60)
        self.store.zadd(ALIVE_KEY, {str(user_id): deadline})

    def set_online(self, *, user_id: int, socket_id: str, now: float | None = None) -> str | None:
        """A socket connected: the operator counts as connected; returns the new status if
        this was a transition (it was published), else None."""
        now = clock.now() if now is None else now
        self._touch(user_id, socket_id, now)
        return self.reconcile(user_id, now=now)

    def heartbeat(self, *, user_id: int, socket_id: str, now: float | None = None) -> str | None:
        """A socket is still alive: push its deadline on. Cheap when nothing changed (no SQL)."""
        now = clock.now() if now is None else now
        self._touch(user_id, socket_id, now)
        seen = self.store.get(_seen_key(user_id))
        if seen:
            status, _, availability = seen.partition("|")
            if effective_status(connected=True, availability=availability) == status:
                return None
        return self.reconcile(user_id, now=now)

    def set_offline(self, *, user_id: int, socket_id: str, now: float | None = None) -> str | None:
        """A socket closed cleanly. It still counts for the grace period; the worker (or any
        later reconcile) publishes ``offline`` once no socket counts any more."""
        now = clock.now() if now is None else now
        deadline = closed_socket_deadline(now=now, grace=self.grace)
        key = _user_key(user_id)
        self.store.zadd(key, {socket_id: deadline})
        if not self.store.zrangebyscore(key, deadline + _EPSILON, float("inf")):
            # No other socket outlives this one: the operator's deadline is now the grace's end.
            self.store.zadd(ALIVE_KEY, {str(user_id): deadline})
        if self.grace <= 0:
            return self.reconcile(user_id, now=now)
        return None

    def is_connected(self, user_id: int, *, now: float | None = None) -> bool:
        now = clock.now() if now is None else now
        return bool(self.store.zrangebyscore(_user_key(user_id), now + _EPSILON, float("inf")))

    def connected_user_ids(self, *, now: float | None = None) -> set[int]:
        now = clock.now() if now is None else now
        return {int(u) for u in self.store.zrangebyscore(ALIVE_KEY, now + _EPSILON, float("inf"))}

    # --- Transitions --------------------------------------------------------------------------

    def reconcile(self, user_id: int, *, now: float | None = None) -> str | None:
        """Recompute the operator's effective status under their presence row lock; publish
        ``presence.updated`` (one event per inbox they belong to) only if it changed."""
        now = clock.now() if now is None else now
        with transaction.atomic():
            row = OperatorPresence.objects.select_for_update(no_key=True).filter(user_id=user_id).first()
            if row is None:
                OperatorPresence.objects.bulk_create(
                    [OperatorPresence(user_id=user_id, status=OFFLINE, changed_at=as_datetime(now))],
                    ignore_conflicts=True,
                )
                row = OperatorPresence.objects.select_for_update(no_key=True).get(user_id=user_id)
            availability = (
                OperatorProfile.objects.filter(user_id=user_id).values_list("availability", flat=True).first() or ONLINE
            )
            # Read after the lock: a concurrent reconcile's store writes are visible by now.
            status = effective_status(connected=self.is_connected(user_id, now=now), availability=availability)
            seen = f"{status}|{availability}"
            store, seen_ttl = self.store, self.heartbeat_seconds * 2
            transaction.on_commit(lambda: store.set(_seen_key(user_id), seen, ttl=seen_ttl))
            if status == row.status:
                return None
            OperatorPresence.objects.filter(pk=user_id).update(status=status, changed_at=as_datetime(now))
            inbox_ids = list(InboxMember.objects.filter(user_id=user_id).order_by("inbox_id").values_list("inbox_id", flat=True))
            # One event per inbox, all in one statement.
            dispatch_all([EventDraft(EventType.PRESENCE_UPDATED, {"user_id": user_id, "status": status},
                                     inbox_id=inbox_id, audience=Audience.OPERATORS) for inbox_id in inbox_ids])
            transaction.on_commit(lambda: self.publish_inbox_availability(inbox_ids, now=now))
            return status

    def publish_inbox_availability(self, inbox_ids: Iterable[int], *, now: float | None = None) -> list[int]:
        """Tell the widgets of each inbox whether any operator is available, when that changed.

        An inbox-wide ``presence.updated`` with ``{"user_id": null, "status": "online"|"offline"}``
        (the one presence shape; ``user_id`` null: the inbox as a whole), audience everyone and
        no contact inbox: every widget of the inbox. Runs after the operator's transition has
        committed, so the last of two concurrent transitions always sees the final state; a
        race can repeat the same value, never leave a wrong one.
        """
        inbox_ids = sorted(set(inbox_ids))
        connected = self.connected_user_ids(now=now)
        available = dict.fromkeys(inbox_ids, False)
        rows = InboxMember.objects.filter(inbox_id__in=inbox_ids).values_list("inbox_id", "user_id", "user__presence__status")
        for inbox_id, user_id, status in rows:
            if status == ONLINE and user_id in connected:
                available[inbox_id] = True
        changed = []
        for inbox_id, value in available.items():
            flag = "1" if value else "0"
            if self.store.get(_inbox_available_key(inbox_id)) != flag:
                self.store.set(_inbox_available_key(inbox_id), flag)
                changed.append(inbox_id)
        if changed:
            with transaction.atomic():
                dispatch_all([
                    EventDraft(EventType.PRESENCE_UPDATED, {"user_id": None, "status": ONLINE if available[inbox_id] else OFFLINE},
                               inbox_id=inbox_id, audience=Audience.EVERYONE)
                    for inbox_id in changed
                ])
        return changed

    def expire(self, *, now: float | None = None) -> dict[int, str]:
        """The worker's tick: publish every transition that time alone caused (sockets past
        their TTL, clean disconnects past the grace), and heal any status the published row
        got wrong. Idempotent and safe to run in several workers at once (row locks)."""
        now = clock.now() if now is None else now
        connected = self.connected_user_ids(now=now)
        published = dict(OperatorPresence.objects.values_list("user_id", "status"))
        suspects = [uid for uid, status in published.items() if status != OFFLINE and uid not in connected]
        # Connected but published offline: a lost update (or a chosen "offline", which the
        # cached ``seen`` value confirms without a transaction on every tick).
        for uid in connected:
            if published.get(uid, OFFLINE) == OFFLINE and not (self.store.get(_seen_key(uid)) or "").startswith(OFFLINE):
                suspects.append(uid)
        transitions = {}
        for user_id in sorted(set(suspects)):
            status = self.reconcile(user_id, now=now)
            if status is not None:
                transitions[user_id] = status
        self.store.zremrangebyscore(ALIVE_KEY, float("-inf"), now - 3600)
        return transitions

    # --- Reads --------------------------------------------------------------------------------

    def member_statuses(self, inbox: Inbox | int, *, now: float | None = None) -> dict[int, str]:
        """Every member of the inbox with their effective status right now: the published
        status, downgraded to offline when no socket of theirs counts any more (the worker
        may not have published that yet)."""
        inbox_id = inbox if isinstance(inbox, int) else inbox.pk
        rows = InboxMember.objects.filter(inbox_id=inbox_id, user__is_active=True).values_list(
            "user_id", "user__presence__status"
        )
        return self.statuses_of([(uid, status) for uid, status in rows], now=now)

    def statuses_of(self, rows: Iterable[tuple[int, str | None]], *, now: float | None = None) -> dict[int, str]:
        connected = self.connected_user_ids(now=now)
        return {uid: (status or OFFLINE) if uid in connected else OFFLINE for uid, status in rows}

    def statuses_of_users(self, user_ids: Iterable[int], *, now: float | None = None) -> dict[int, str]:
        """Effective status of each operator (any inbox): published, downgraded to offline
        without a live socket."""
        return self.statuses_of(list(published_statuses(user_ids=user_ids).items()), now=now)

    def get_available_users(self, inbox: Inbox | int, *, now: float | None = None) -> list[int]:
        """Members of the inbox who are online and available (not busy) now, by id."""
        return sorted(uid for uid, status in self.member_statuses(inbox, now=now).items() if status == ONLINE)

    def status_of(self, user_id: int, *, now: float | None = None) -> str:
        status = OperatorPresence.objects.filter(user_id=user_id).values_list("status", flat=True).first()
        return self.statuses_of([(user_id, status)], now=now)[user_id]

    # --- Contacts (tracked, not broadcast) ----------------------------------------------------

    def contact_set_online(self, *, contact_id: int, inbox_id: int, socket_id: str, now: float | None = None) -> None:
        now = clock.now() if now is None else now
        key = _contact_key(contact_id)
        self.store.zadd_trim(key, {f"{inbox_id}:{socket_id}": socket_deadline(now=now, ttl=self.ttl)},
                             below=now - self.ttl, ttl=self.ttl * 2 + self.grace + 60)

    def contact_set_offline(self, *, contact_id: int, inbox_id: int, socket_id: str, now: float | None = None) -> None:
        now = clock.now() if now is None else now
        self.store.zadd(_contact_key(contact_id), {f"{inbox_id}:{socket_id}": closed_socket_deadline(now=now, grace=self.grace)})

    def contact_is_online(self, contact_id: int, *, inbox_id: int | None = None, now: float | None = None) -> bool:
        now = clock.now() if now is None else now
        live = self.store.zrangebyscore(_contact_key(contact_id), now + _EPSILON, float("inf"))
        return any(inbox_id is None or member.startswith(f"{inbox_id}:") for member in live)


def get_tracker() -> OnlineStatusTracker:
    return OnlineStatusTracker()
