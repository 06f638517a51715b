"""Webhooks (DESIGN.md §12): administration, fan-out from the outbox, signed delivery with retries.

docs/webhooks.md describes the contract. The delivery loop, ``webhooks_tick`` (run by the worker):

1. **Fan-out** (``webhooks_fan_out``): reads the outbox past the cursor in ``WebhookCursor``
   with ``chat.outbox.read_released`` (a late commit is waited for, never skipped), and creates
   one ``WebhookDelivery`` per matching (webhook, event), idempotently (unique pair, conflicts
   ignored), moving the cursor in the same transaction. One worker at a time: the cursor row is
   locked with SKIP LOCKED, another worker skips the step.
2. **Delivery** (``webhooks_deliver``): per webhook with due deliveries, a chain in a bounded
   thread pool claims its oldest eligible delivery (``FOR UPDATE SKIP LOCKED`` in a short
   transaction that counts the attempt and pushes ``next_attempt_at`` out by a lease), sends it
   outside any transaction, then records the outcome. A crash between send and record leaves
   the row pending: it is sent again once the lease is over (at least once; receivers dedupe by
   ``X-Messenger-Delivery``).

Ordering: a delivery is not claimed while an older delivery of the same webhook is pending and
has no recorded outcome (never tried, or in flight). After its first failed attempt an event may
be overtaken by later ones, so that one poisoned event does not stop a webhook for an hour.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidData, NotFound
from chat.event_types import EventType
from chat.metrics import WEBHOOK_DELIVERIES, child
from chat.models import DeliveryState, Event, Inbox, Webhook, WebhookCursor, WebhookDelivery
from chat.outbox import read_released, watermark
from chat.selectors.event_visibility import operator_event_rule
from chat.webhooks_egress import HttpOutcome, post

logger = logging.getLogger(__name__)

WEBHOOK_TEST_EVENT = "webhook.test"
URL_MAX_LENGTH = 2048
SIGNATURE_HEADER = "X-Messenger-Signature"
# A claimed attempt's lease: longer than one send (timeout) can take, so a live attempt is
# never sent twice; after a crash the delivery is due again this long after its claim.
LEASE_SECONDS = 60
FAN_OUT_BATCHES_PER_TICK = 10
DELIVERIES_PER_WEBHOOK_PER_TICK = 50
DELIVERY_PAGE_MAX = 100

# A webhook gets what an administrator may see (private notes included, flagged by the message's
# ``private``), minus events personal to one operator: the administrators' rule of the outbox,
# for a user id that matches nobody's personal events.
_ADMIN_VISIBLE = operator_event_rule(user_id=0, inbox_ids=None).compile()


# --- The delivery outcome: one call site -------------------------------------------------------


def delivery_outcome_observed(*, outcome: str) -> None:
    """Every recorded attempt passes here once (``delivered``, ``retry``, ``failed``): the one
    line where ``messenger_webhook_deliveries_total{outcome}`` is counted."""
    child(WEBHOOK_DELIVERIES, outcome).inc()
    logger.debug("webhook delivery outcome: %s", outcome)


# --- Administration ------------------------------------------------------------------------------


def _clean_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidData(_("url is required."), fields={"url": [_("An http or https URL.")]})
    url: str = value.strip()
    if len(url) > URL_MAX_LENGTH:
        raise InvalidData(_("url is too long."), fields={"url": [format_lazy(_("At most {count} characters."), count=URL_MAX_LENGTH)]})
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise InvalidData(_("url is not a URL."), fields={"url": [_("An http or https URL.")]}) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidData(_("url must be http or https with a host."), fields={"url": [_("An http or https URL.")]})
    if parts.username is not None or parts.password is not None:
        raise InvalidData(_("url may not contain credentials."), fields={"url": [_("No user or password in the URL.")]})
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidData(_("url contains spaces or control characters."), fields={"url": [_("No spaces.")]})
    return url


def _clean_subscriptions(subscriptions: Any) -> list[str]:
    declared = {str(t) for t in EventType}
    if not isinstance(subscriptions, list) or not subscriptions:
        raise InvalidData(_("subscriptions must list at least one event type."),
                          fields={"subscriptions": [_("At least one event type.")]})
    unknown = [s for s in subscriptions if not isinstance(s, str) or s not in declared]
    if unknown:
        raise InvalidData(_("unknown event type in subscriptions."),
                          fields={"subscriptions": [f"Unknown event type: {str(u)[:60]}" for u in unknown[:5]]})
    return sorted(set(subscriptions), key=list(subscriptions).index)


def _clean_inbox(inbox_id: Any) -> int | None:
    if inbox_id is None:
        return None
    if not Inbox.objects.filter(pk=inbox_id).exists():
        raise InvalidData(_("No such inbox."), fields={"inbox": [_("No such inbox.")]})
    return int(inbox_id)


def _clean_secret(secret: Any) -> str:
    if not isinstance(secret, str) or not 16 <= len(secret) <= 128 or not secret.isprintable():
        raise InvalidData(_("secret must be 16 to 128 printable characters."),
                          fields={"secret": [_("16 to 128 printable characters.")]})
    return secret


@transaction.atomic
def webhook_create(
    *, url: str, subscriptions: list[str], inbox_id: int | None = None, active: bool = True,
    secret: str | None = None,
) -> Webhook:
    """A webhook; the secret is generated when none is given (the caller shows it once)."""
    _cursor_exists()
    return Webhook.objects.create(
        url=_clean_url(url),
        subscriptions=_clean_subscriptions(subscriptions),
        inbox_id=_clean_inbox(inbox_id),
        active=bool(active),
        secret=secrets.token_hex(32) if secret in (None, "") else _clean_secret(secret),
    )


_UNSET: Any = object()


@transaction.atomic
def webhook_update(
    *, webhook_id: int, url: str = _UNSET, subscriptions: list[str] = _UNSET, inbox_id: int | None = _UNSET,
    active: bool = _UNSET, secret: str = _UNSET,
) -> Webhook:
    """Change what is given. Deliveries already created keep their body and go on."""
    webhook = Webhook.objects.select_for_update(no_key=True).filter(pk=webhook_id).first()
    if webhook is None:
        raise NotFound()
    if url is not _UNSET:
        webhook.url = _clean_url(url)
    if subscriptions is not _UNSET:
        webhook.subscriptions = _clean_subscriptions(subscriptions)
    if inbox_id is not _UNSET:
        webhook.inbox_id = _clean_inbox(inbox_id)
    if active is not _UNSET:
        webhook.active = bool(active)
    if secret is not _UNSET:
        webhook.secret = _clean_secret(secret)
    webhook.save()
    return webhook


def webhook_delete(*, webhook_id: int) -> None:
    if not Webhook.objects.filter(pk=webhook_id).delete()[0]:
        raise NotFound()


def webhook_get(*, webhook_id: int) -> Webhook:
    webhook = Webhook.objects.filter(pk=webhook_id).first()
    if webhook is None:
        raise NotFound()
    return webhook


def webhook_list() -> QuerySet[Webhook]:
    return Webhook.objects.order_by("id")


@dataclass(frozen=True)
class DeliveryPage:
    results: list[WebhookDelivery]
    next: int | None  # pass as ``before`` for the next (older) page


def webhook_deliveries(*, webhook_id: int, before: int | None = None, limit: int = 25) -> DeliveryPage:
    """The deliveries log, newest event first, keyset paged on the event id."""
    webhook_get(webhook_id=webhook_id)
    limit = max(1, min(limit, DELIVERY_PAGE_MAX))
    qs = WebhookDelivery.objects.filter(webhook_id=webhook_id).order_by("-event_id")
    if before is not None:
        qs = qs.filter(event_id__lt=before)
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return DeliveryPage(rows, rows[-1].event_id if more else None)


# --- Bodies and signatures -----------------------------------------------------------------------


def sign(*, secret: str, body: bytes) -> str:
    """The ``X-Messenger-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def event_body(*, event_id: int | None, event_type: str, created_at: datetime, inbox_id: int | None,
               conversation_id: int | None, data: Any) -> str:
    created = created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {"id": event_id, "event": event_type, "created_at": created, "inbox_id": inbox_id,
         "conversation_id": conversation_id, "data": data},
        separators=(",", ":"), ensure_ascii=False,
    )


def _headers(*, secret: str, body: bytes, event_type: str, delivery: str) -> dict[str, str]:
    return {"X-Messenger-Event": event_type, "X-Messenger-Delivery": delivery,
            SIGNATURE_HEADER: sign(secret=secret, body=body)}


def _matches(webhook: Webhook, event: Event) -> bool:
    return (
        event.type in webhook.subscriptions
        and (webhook.inbox_id is None or webhook.inbox_id == event.inbox_id)
        and _ADMIN_VISIBLE(event)
    )


# --- 1. Fan-out ----------------------------------------------------------------------------------


def _cursor_exists() -> None:
    """The fan-out's cursor, made at the outbox's watermark on first use: the first webhook
    does not receive the whole retained outbox."""
    WebhookCursor.objects.bulk_create([WebhookCursor(id=1, last_event_id=watermark())], ignore_conflicts=True)


def webhooks_fan_out(*, now: datetime | None = None) -> int:
    """Deliveries for the released outbox events past the cursor; how many were created."""
    now = now or timezone.now()
    _cursor_exists()
    created = 0
    for _batch in range(FAN_OUT_BATCHES_PER_TICK):
        with transaction.atomic():
            cursor = WebhookCursor.objects.select_for_update(no_key=True, skip_locked=True).filter(id=1).first()
            if cursor is None:
                return created  # another worker is fanning out
            webhooks = list(Webhook.objects.filter(active=True))
            if not webhooks:
                # Nothing to match: skip ahead (every event at or below the watermark is visible).
                cursor.last_event_id = max(cursor.last_event_id, watermark())
                cursor.save(update_fields=["last_event_id", "updated_at"])
                return created
            batch = read_released(cursor.last_event_id)
            rows = [
                WebhookDelivery(
                    webhook_id=webhook.id, event_id=event.id, event_type=event.type, next_attempt_at=now,
                    body=event_body(event_id=event.id, event_type=event.type, created_at=event.created_at,
                                    inbox_id=event.inbox_id, conversation_id=event.conversation_id,
                                    data=event.payload),
                )
                for event in batch.events for webhook in webhooks if _matches(webhook, event)
            ]
            created += len(WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True))
            if batch.watermark != cursor.last_event_id:
                cursor.last_event_id = batch.watermark
                cursor.save(update_fields=["last_event_id", "updated_at"])
        if not batch.more:
            return created
    return created


# --- 2. Delivery ---------------------------------------------------------------------------------


def retry_delay(*, failures: int, base: float | None = None, cap: float | None = None) -> float:
    """Seconds before the attempt after the ``failures``-th failure: exponential with full jitter,
    uniform in [0, min(cap, base * 2**(failures-1))]."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS if base is None else base
    cap = settings.WEBHOOK_RETRY_MAX_SECONDS if cap is None else cap
    return random.uniform(0, min(cap, base * 2 ** min(max(failures - 1, 0), 30)))


def _due(now: datetime) -> QuerySet[WebhookDelivery]:
    # A paused webhook's pending deliveries wait (and go out once it is active again).
    return WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now, webhook__active=True)


def _eligible(webhook_id: int, now: datetime) -> QuerySet[WebhookDelivery]:
    """Due deliveries of one webhook that no older untried (or in-flight) delivery holds back."""
    older_untried = WebhookDelivery.objects.filter(
        webhook_id=OuterRef("webhook_id"), state=DeliveryState.PENDING, outcomes=0, event_id__lt=OuterRef("event_id"),
    )
    return _due(now).filter(webhook_id=webhook_id).exclude(Exists(older_untried)).order_by("event_id")


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt: int
    url: str
    secret: str
    event_type: str
    event_id: int
    body: bytes


def delivery_claim(*, webhook_id: int, now: datetime) -> Claim | None:
    """Claim the webhook's next eligible delivery: count the attempt and lease it. Two workers
    never hold the same row (SKIP LOCKED), and the lease keeps it from being claimed again
    while its attempt is in flight."""
    with transaction.atomic():
        row = (
            _eligible(webhook_id, now).select_for_update(no_key=True, skip_locked=True, of=("self",))
            .select_related("webhook").first()
        )
        if row is None:
            return None
        row.attempts += 1
        row.next_attempt_at = now + timedelta(seconds=LEASE_SECONDS)
        row.save(update_fields=["attempts", "next_attempt_at"])
    webhook = row.webhook
    return Claim(row.id, row.attempts, webhook.url, webhook.secret, row.event_type, row.event_id,
                 row.body.encode("utf-8"))


def delivery_record(*, claim: Claim, outcome: HttpOutcome, now: datetime) -> str:
    """Record an attempt's outcome (unless a later claim of the same row has taken over):
    ``delivered``, ``retry`` or ``failed``."""
    if outcome.ok:
        result, fields = "delivered", {"state": DeliveryState.DELIVERED, "delivered_at": now, "next_attempt_at": None}
    elif claim.attempt >= settings.WEBHOOK_MAX_ATTEMPTS:
        result, fields = "failed", {"state": DeliveryState.FAILED, "next_attempt_at": None}
    else:
        delay = retry_delay(failures=claim.attempt)
        result, fields = "retry", {"next_attempt_at": now + timedelta(seconds=delay)}
    with transaction.atomic():
        row = (
            WebhookDelivery.objects.select_for_update(no_key=True)
            .filter(pk=claim.delivery_id, attempts=claim.attempt, state=DeliveryState.PENDING).first()
        )
        if row is None:
            return "superseded"
        for name, value in fields.items():
            setattr(row, name, value)
        row.outcomes += 1
        row.last_status = outcome.status
        row.last_error = outcome.error[:500]
        row.save()
    delivery_outcome_observed(outcome=result)
    return result


def _send(claim: Claim) -> HttpOutcome:
    headers = _headers(secret=claim.secret, body=claim.body, event_type=claim.event_type,
                       delivery=str(claim.event_id))
    return post(claim.url, body=claim.body, headers=headers)


# SQLite (embedded mode) has one writer at a time and refuses a second one at once ("table is
# locked") instead of waiting: there the chains' short transactions take turns; sends still overlap.
_sqlite_turns = threading.Lock()


def _db_turn() -> AbstractContextManager[Any]:
    return nullcontext() if connection.vendor == "postgresql" else _sqlite_turns


def _webhook_chain(webhook_id: int, now: datetime | None, deadline: float) -> list[str]:
    """Send one webhook's eligible deliveries, oldest first, until none is left, the per-tick
    limit, or the tick's deadline."""
    results: list[str] = []
    try:
        for _attempt in range(DELIVERIES_PER_WEBHOOK_PER_TICK):
            if time.monotonic() > deadline:
                break
            with _db_turn():
                claim = delivery_claim(webhook_id=webhook_id, now=now or timezone.now())
            if claim is None:
                break
            # No connection held across the request (the pool is shared with the server's work).
            connections["default"].close()
            outcome = _send(claim)
            with _db_turn():
                results.append(delivery_record(claim=claim, outcome=outcome, now=now or timezone.now()))
    finally:
        connections.close_all()
    return results


def webhooks_deliver(*, now: datetime | None = None) -> list[str]:
    """Send due deliveries: one chain per webhook, ``WEBHOOK_CONCURRENCY`` at once, so a slow or
    dead endpoint holds one thread, not the others."""
    deadline = time.monotonic() + settings.WEBHOOK_TICK_BUDGET_SECONDS
    webhook_ids = list(
        _due(now or timezone.now()).order_by("webhook_id").values_list("webhook_id", flat=True).distinct()[:200]
    )
    if not webhook_ids:
        return []
    random.shuffle(webhook_ids)  # no webhook always last when there are more than the pool takes
    if not connection.in_atomic_block:
        connection.close()  # back to the pool while the chains (each with its own) send
    results: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, settings.WEBHOOK_CONCURRENCY), thread_name_prefix="webhook") as pool:
        for chain in pool.map(lambda wid: _webhook_chain(wid, now, deadline), webhook_ids):
            results += chain
    return results


def webhooks_tick(*, now: datetime | None = None) -> dict[str, Any]:
    """The worker's task: fan out, then deliver."""
    created = webhooks_fan_out(now=now)
    outcomes = webhooks_deliver(now=now)
    return {"created": created, "outcomes": _count(outcomes)}


def _count(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


# --- The test event -----------------------------------------------------------------------------


def webhook_send_test(*, webhook_id: int) -> dict[str, Any]:
    """Send a synthetic ``webhook.test`` event through the same signing and egress path, now;
    nothing is recorded. Its delivery id is ``test-<random>`` (never an event id)."""
    webhook = webhook_get(webhook_id=webhook_id)
    body = event_body(event_id=None, event_type=WEBHOOK_TEST_EVENT, created_at=timezone.now(),
                      inbox_id=webhook.inbox_id, conversation_id=None,
                      data={"webhook_id": webhook.id, "message": "Test event from the messenger."}).encode("utf-8")
    delivery = f"test-{secrets.token_hex(8)}"
    outcome = post(webhook.url, body=body,
                   headers=_headers(secret=webhook.secret, body=body, event_type=WEBHOOK_TEST_EVENT, delivery=delivery))
    return {"delivered": outcome.ok, "status": outcome.status, "error": outcome.error,
            "duration_ms": outcome.duration_ms, "delivery": delivery}
