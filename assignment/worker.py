"""The timed parts (DESIGN.md §9), one plain function per task, each with an injectable ``now``.

``manage.py chat_worker`` runs them in a loop. Each task is safe to run in several workers at
once on its own (row locks and re-checks under them); the command also takes a short store
lock per task and tick so that parallel workers do not repeat the same scan.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Exists, OuterRef

from assignment.engine import load_user, operator_name
from assignment.services import release_conversations, serve_waiting
from chat.models import Conversation, ConversationStatus, Event, Inbox
from chat.services.conversations import conversations_wake_snoozed
from chat.store import get_store
from presence.selectors import is_offline_since, offline_since_user_ids
from presence.tracker import as_datetime, get_tracker
from presence import clock

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
        name = operator_name(load_user(user_id))
        released += release_conversations(
            user_id=user_id,
            activity=f"Conversation unassigned: {name} has been offline for more than {minutes} minute{'s' * (minutes != 1)}",
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


TASKS: dict[str, Callable[..., object]] = {
    "presence": presence_tick,
    "release": release_tick,
    "snooze": snooze_tick,
    "waiting": waiting_tick,
    "prune_events": prune_events_tick,
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
    and does not stop the others. ``in_process``: running inside the server process."""
    store = get_store()
    results: dict[str, object] = {}
    for name, task in TASKS.items():
        if name == "presence" and store_is_process_local() and not in_process:
            results[name] = "skipped (in-process store: run the ticks inside the server)"
            continue
        if exclusive and not store.acquire(f"worker:{name}", max(0.5, interval * 0.8)):
            results[name] = "skipped"
            continue
        try:
            results[name] = task(now=now)
        except Exception:
            logger.exception("worker task %s failed", name)
            results[name] = "failed"
    return results


_in_process_started = threading.Lock()


def start_in_process_worker(*, interval: float = 2.0) -> bool:
    """Run the ticks in a daemon thread of this process (the embedded default, one process,
    where a separate ``chat_worker`` cannot see the in-memory store). Once per process; True
    if this call started it."""
    if not _in_process_started.acquire(blocking=False):
        return False

    def loop() -> None:
        while True:
            started = time.monotonic()
            close_old_connections()
            try:
                run_tick(interval=interval, exclusive=False, in_process=True)
            except Exception:  # keep ticking: the next tick may succeed
                logger.exception("in-process worker tick failed")
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    threading.Thread(target=loop, name="chat-worker", daemon=True).start()
    return True
