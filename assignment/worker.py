"""The timed parts (DESIGN.md §9), one plain function per task, each with an injectable ``now``.

``manage.py chat_worker`` runs them in a loop. Each task is safe to run in several workers at
once on its own (row locks and re-checks under them); the command also takes a short store
lock per task and tick so that parallel workers do not repeat the same scan.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Exists, OuterRef

from assignment.engine import load_user
from assignment.offers import offers_expire_due
from assignment.services import release_conversations, serve_waiting
from chat.activity import ActivityKind, activity_data, person
from chat.errors import Unavailable
from chat.models import Conversation, ConversationStatus, Event, Inbox
from chat.outages import is_outage, unavailable_on_outage
from chat.services.conversations import conversations_wake_snoozed
from chat.services.webhooks import webhooks_tick
from chat.store import get_store
from presence import clock
from presence.selectors import is_offline_since, offline_since_user_ids
from presence.tracker import as_datetime, get_tracker

logger = logging.getLogger(__name__)


def presence_tick(*, now: float | None = None) -> dict[int, str]:
    """Publish presence transitions caused by time: TTLs of dead sockets, graces of closed ones."""
    return get_tracker().expire(now=now)


def release_tick(*, now: float | None = None) -> list[int]:
    """Release the open conversations of operators offline for longer than the release delay.
    The release emits ``assignee.changed`` to nobody, so they are reassigned to someone online."""
    now = clock.now() if now is None else now
    delay = settings.ASSIGNMENT_RELEASE_DELAY_SECONDS
    cutoff = as_datetime(now - delay)
    user_ids = list(
        Conversation.objects.filter(assignee_id__in=offline_since_user_ids(before=cutoff), status=ConversationStatus.OPEN)
        .order_by("assignee_id")
        .values_list("assignee_id", flat=True)
        .distinct()
    )
    minutes = max(1, round(delay / 60))
    released: list[int] = []
    for user_id in user_ids:
        released += release_conversations(
            user_id=user_id,
            activity=activity_data(ActivityKind.RELEASED_OFFLINE, assignee=person(load_user(user_id)), minutes=minutes),
            still_applies=lambda uid=user_id: is_offline_since(user_id=uid, before=cutoff),
        )
    return released


def snooze_tick(*, now: float | None = None) -> list[int]:
    """Reopen snoozed conversations whose time has come; their ``conversation.status_changed``
    lets assignment pick up those without an assignee."""
    now = clock.now() if now is None else now
    return conversations_wake_snoozed(now=as_datetime(now))


def waiting_tick(*, now: float | None = None) -> int:
    """Safety net for triggers that could not act (everyone rate limited, a failed reaction):
    serve every auto-assign inbox that has waiting conversations."""
    waiting = Conversation.objects.filter(
        inbox_id=OuterRef("pk"), status=ConversationStatus.OPEN, assignee__isnull=True
    )
    inbox_ids = Inbox.objects.filter(enable_auto_assignment=True).filter(Exists(waiting)).values_list("pk", flat=True)
    return sum(serve_waiting(inbox_id=inbox_id, now=now) for inbox_id in list(inbox_ids))


def offers_tick(*, now: float | None = None) -> list[int]:
    """Ring mode: expire the offers whose ``expires_at`` has come; each expiry's
    ``offer_withdrawn`` offers the conversation to the next operator (assignment/offers.py).
    Runs every tick, so an expired offer is re-offered within one interval (2 s by default);
    an accept after ``expires_at`` is refused at once, whatever the worker's pace."""
    return offers_expire_due(now=now)


def prune_events_tick(*, now: float | None = None, batch: int = 5000) -> int:
    """Delete outbox events older than EVENT_RETENTION_HOURS, in batches."""
    now = clock.now() if now is None else now
    cutoff = as_datetime(now) - timedelta(hours=settings.EVENT_RETENTION_HOURS)
    deleted = 0
    while True:
        ids = list(Event.objects.filter(created_at__lt=cutoff).order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += Event.objects.filter(id__in=ids).delete()[0]


def webhook_tick(*, now: float | None = None) -> dict[str, object]:
    """Fan outbox events out to webhooks and send the due deliveries (chat/services/webhooks.py)."""
    return webhooks_tick(now=None if now is None else as_datetime(now))


TASKS: dict[str, Callable[..., object]] = {
    "presence": presence_tick,
    "offers": offers_tick,
    "release": release_tick,
    "snooze": snooze_tick,
    "waiting": waiting_tick,
    "prune_events": prune_events_tick,
    "webhooks": webhook_tick,
}


def store_is_process_local() -> bool:
    """The embedded default keeps sockets in the server process's memory: another process
    (a separate ``chat_worker``) cannot see them and must not judge presence."""
    return settings.SHARED_STORE.get("BACKEND") == "memory"


def run_tick(
    *, now: float | None = None, interval: float = 2.0, exclusive: bool = True, in_process: bool = False
) -> dict[str, object]:
    """Run every task once, in order. With ``exclusive``, a task already run by another worker
    within this interval is skipped (a store lock per task and tick); a failing task is logged
    and does not stop the others. ``in_process``: running inside the server process.
    An outage (Redis or PostgreSQL out of reach, chat/outages.py) raises ``Unavailable`` and
    ends the tick: every other task would fail the same way; ``run_worker`` backs off."""
    store = get_store()
    results: dict[str, object] = {}
    for name, task in TASKS.items():
        if name == "presence" and store_is_process_local() and not in_process:
            results[name] = "skipped (in-process store: run the ticks inside the server)"
            continue
        with unavailable_on_outage():
            if exclusive and not store.acquire(f"worker:{name}", max(0.5, interval * 0.8)):
                results[name] = "skipped"
                continue
        try:
            results[name] = task(now=now)
        except Exception as exc:
            if is_outage(exc):
                raise Unavailable() from exc
            logger.exception("worker task %s failed", name)
            results[name] = "failed"
    return results


# Backoff after an outage: doubles from the tick interval up to this bound, with jitter so that
# several workers do not knock on the returning service at the same instant.
WORKER_BACKOFF_MAX_SECONDS = 30.0


def outage_backoff(*, failures: int, interval: float, cap: float = WORKER_BACKOFF_MAX_SECONDS) -> float:
    """Seconds to wait after the ``failures``-th consecutive failed tick: "equal jitter"
    exponential backoff, between half and all of ``min(cap, interval * 2**failures)``."""
    ceiling = min(cap, interval * 2.0 ** min(failures, 16))
    return ceiling / 2 + random.random() * ceiling / 2


def run_worker(*, interval: float, stop: threading.Event, exclusive: bool = True, in_process: bool = False) -> None:
    """Tick every ``interval`` seconds until ``stop`` is set; survive anything a tick raises.

    An outage is logged once when it starts and once when it ends, and the loop backs off
    (``outage_backoff``) meanwhile; the worker never exits because PostgreSQL or Redis went away
    (it used to: an unguarded ``store.acquire`` killed it on the first Redis error)."""
    failures = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            close_old_connections()
            run_tick(interval=interval, exclusive=exclusive, in_process=in_process)
        except Exception as exc:
            failures += 1
            if failures == 1:
                if is_outage(exc):
                    logger.warning("worker: service unavailable, backing off: %r", exc.__cause__ or exc)
                else:
                    logger.exception("worker tick failed, backing off")
            stop.wait(outage_backoff(failures=failures, interval=interval))
            continue
        if failures:
            logger.warning("worker: recovered after %d failed tick%s", failures, "s" * (failures != 1))
            failures = 0
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


_in_process_started = threading.Lock()


def start_in_process_worker(*, interval: float = 2.0) -> bool:
    """Run the ticks in a daemon thread of this process (the embedded default, one process,
    where a separate ``chat_worker`` cannot see the in-memory store). Once per process; True
    if this call started it."""
    if not _in_process_started.acquire(blocking=False):
        return False

    def loop() -> None:
        run_worker(interval=interval, stop=threading.Event(), exclusive=False, in_process=True)

    threading.Thread(target=loop, name="chat-worker", daemon=True).start()
    return True
