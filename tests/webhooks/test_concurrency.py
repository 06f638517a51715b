"""Several workers at once, and late commits (PostgreSQL)."""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, transaction

from chat.event_types import EventType
from chat.events import dispatch
from chat.models import DeliveryState, WebhookDelivery
from chat.services import webhooks as hooks
from chat.services.webhooks import webhook_create, webhooks_tick
from tests.concurrency import HeldTransaction, run_concurrently
from tests.factories import InboxFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PRESENCE = {"user_id": None, "status": "online"}


def test_two_workers_deliver_each_delivery_once(receiver, settings):
    settings.WEBHOOK_CONCURRENCY = 2
    inbox = InboxFactory()
    hooks_ = [webhook_create(url=f"{receiver.url}/{i}", subscriptions=["presence.updated"]) for i in range(3)]
    with transaction.atomic():
        ids = [dispatch(EventType.PRESENCE_UPDATED, payload=PRESENCE, inbox_id=inbox.id).id for _ in range(8)]
    connection.close()  # this thread's connection back to the pool (DB_POOL_MAX_SIZE is small here)
    results = run_concurrently(lambda i: webhooks_tick(), 2)
    assert not [r for r in results if isinstance(r, Exception)], results
    while WebhookDelivery.objects.filter(state=DeliveryState.PENDING).exists():
        assert webhooks_tick()["outcomes"], "pending deliveries that nobody sends"
    sent = Counter((h.path, h.headers["x-messenger-delivery"]) for h in receiver.hits)
    assert sent == Counter({(f"/{i}", str(e)): 1 for i in range(3) for e in ids})
    assert WebhookDelivery.objects.filter(state=DeliveryState.DELIVERED, attempts=1).count() == 3 * len(ids)
    # In event order per webhook.
    for i in range(len(hooks_)):
        assert [int(h.headers["x-messenger-delivery"]) for h in receiver.hits if h.path == f"/{i}"] == ids


def test_concurrent_fan_out_creates_each_delivery_once(receiver):
    inbox = InboxFactory()
    webhook_create(url=receiver.url, subscriptions=["presence.updated"])
    with transaction.atomic():
        ids = [dispatch(EventType.PRESENCE_UPDATED, payload=PRESENCE, inbox_id=inbox.id).id for _ in range(20)]
    run_concurrently(lambda i: hooks.webhooks_fan_out(), 3)
    hooks.webhooks_fan_out()
    assert sorted(WebhookDelivery.objects.values_list("event_id", flat=True)) == ids


def test_a_late_commit_is_not_skipped(receiver):
    """An event whose id was allocated before a later one committed is delivered once it commits."""
    inbox = InboxFactory()
    webhook_create(url=receiver.url, subscriptions=["presence.updated"])
    with HeldTransaction(EventType.PRESENCE_UPDATED, payload=PRESENCE, inbox_id=inbox.id) as late:
        late_id = late.start()
        with transaction.atomic():
            early_id = dispatch(EventType.PRESENCE_UPDATED, payload=PRESENCE, inbox_id=inbox.id).id
        assert early_id > late_id
        webhooks_tick()
        assert receiver.hits == []  # the later id waits behind the uncommitted one
        late.commit()
    webhooks_tick()
    assert [int(h.headers["x-messenger-delivery"]) for h in receiver.hits] == [late_id, early_id]


def test_a_claim_in_progress_is_skipped_not_shared_or_waited_for(receiver):
    """Worker A has claimed a delivery and not committed yet: worker B neither gets the same
    delivery (no duplicate send) nor waits for A (SKIP LOCKED), and after A's commit the lease
    keeps it from B until the attempt's outcome is recorded."""
    from django.db import connections
    from django.utils import timezone

    inbox = InboxFactory()
    hook = webhook_create(url=receiver.url, subscriptions=["presence.updated"])
    with transaction.atomic():
        dispatch(EventType.PRESENCE_UPDATED, payload=PRESENCE, inbox_id=inbox.id)
        dispatch(EventType.PRESENCE_UPDATED, payload=PRESENCE, inbox_id=inbox.id)
    hooks.webhooks_fan_out()
    claimed, release = threading.Event(), threading.Event()
    found: dict[str, object] = {}

    def worker_a() -> None:
        try:
            with transaction.atomic():
                found["a"] = hooks.delivery_claim(webhook_id=hook.id, now=timezone.now())
                claimed.set()
                release.wait(10)
        finally:
            connections.close_all()

    def worker_b() -> None:
        try:
            found["b"] = hooks.delivery_claim(webhook_id=hook.id, now=timezone.now())
        finally:
            connections.close_all()

    a = threading.Thread(target=worker_a)
    a.start()
    assert claimed.wait(10)
    b = threading.Thread(target=worker_b)
    b.start()
    b.join(5)
    finished_without_waiting = not b.is_alive()
    release.set()
    a.join(10)
    b.join(10)
    assert finished_without_waiting, "worker B waited for worker A's lock"
    assert found["a"] is not None and found["b"] is None  # the second event waits behind the first
    assert hooks.delivery_claim(webhook_id=hook.id, now=timezone.now()) is None  # leased
