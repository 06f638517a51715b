"""The delivery loop against a real loopback receiver (chat/services/webhooks.py)."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from chat.event_types import EventType
from chat.events import dispatch
from chat.models import DeliveryState, MessageDirection, WebhookDelivery
from chat.services import webhooks as hooks
from chat.services.messages import message_create
from chat.services.webhooks import webhook_create, webhooks_tick
from tests.factories import ContactInboxFactory, InboxFactory, UserFactory, make_conversation

pytestmark = pytest.mark.django_db(transaction=True)


def presence(inbox_id: int, status: str = "online") -> int:
    with transaction.atomic():
        return dispatch(EventType.PRESENCE_UPDATED, payload={"user_id": None, "status": status}, inbox_id=inbox_id).id


def later(seconds: float) -> timezone.datetime:
    return timezone.now() + timedelta(seconds=seconds)


def verify(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def test_signed_body_and_headers(receiver):
    inbox = InboxFactory()
    hook = webhook_create(url=receiver.url + "/hook", subscriptions=["presence.updated"])
    event_id = presence(inbox.id)
    result = webhooks_tick()
    assert result["outcomes"] == {"delivered": 1}
    (hit,) = receiver.hits
    assert verify(hook.secret, hit.body, hit.headers["x-messenger-signature"])
    assert not verify("other-secret", hit.body, hit.headers["x-messenger-signature"])
    assert hit.headers["x-messenger-event"] == "presence.updated"
    assert hit.headers["x-messenger-delivery"] == str(event_id)
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["user-agent"].startswith("Messenger-Webhooks/")
    assert hit.headers["host"] == receiver.url.removeprefix("http://")
    body = json.loads(hit.body)
    assert body["id"] == event_id and body["event"] == "presence.updated"
    assert body["inbox_id"] == inbox.id and body["conversation_id"] is None
    assert body["data"] == {"user_id": None, "status": "online"} and body["created_at"].endswith("Z")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.DELIVERED, 1, 200)
    assert delivery.delivered_at is not None
    # Delivered once: another tick sends nothing.
    assert webhooks_tick(now=later(3600))["outcomes"] == {}
    assert len(receiver.hits) == 1


def test_subscriptions_and_inbox_filter_and_private_notes(receiver):
    inbox_a, inbox_b = InboxFactory(), InboxFactory()
    agent = UserFactory()
    all_messages = webhook_create(url=receiver.url + "/all", subscriptions=["message.created"])
    only_b = webhook_create(url=receiver.url + "/b", subscriptions=["message.created", "presence.updated"],
                            inbox_id=inbox_b.id)
    webhook_create(url=receiver.url + "/off", subscriptions=["message.created"], active=False)
    conv_a = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox_a))
    message_create(conversation_id=conv_a.id, direction=MessageDirection.OUTGOING, content="secret note",
                   private=True, sender_user=agent)
    presence(inbox_a.id)
    presence(inbox_b.id)
    webhooks_tick()
    paths = sorted((h.path, h.headers["x-messenger-event"]) for h in receiver.hits)
    assert paths == [("/all", "message.created"), ("/b", "presence.updated")]
    note = json.loads(next(h.body for h in receiver.hits if h.path == "/all"))
    assert note["data"]["private"] is True and note["data"]["content"] == "secret note"
    assert note["conversation_id"] == conv_a.id
    assert WebhookDelivery.objects.filter(webhook=all_messages).count() == 1
    assert WebhookDelivery.objects.filter(webhook=only_b).count() == 1


def test_personal_events_are_not_sent(receiver):
    inbox = InboxFactory()
    agent = UserFactory()
    webhook_create(url=receiver.url, subscriptions=["presence.updated"])
    with transaction.atomic():
        dispatch(EventType.PRESENCE_UPDATED, payload={"user_id": agent.id, "status": "online"},
                 inbox_id=inbox.id, user_id=agent.id)
    webhooks_tick()
    assert receiver.hits == [] and not WebhookDelivery.objects.exists()


def _delivered_metric(outcome: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("messenger_webhook_deliveries_total", {"outcome": outcome}) or 0.0


def test_retry_after_failures_then_success(receiver):
    inbox = InboxFactory()
    webhook_create(url=receiver.url, subscriptions=["presence.updated"])
    receiver.statuses = [500, 503]
    before = {outcome: _delivered_metric(outcome) for outcome in ("retry", "delivered")}
    presence(inbox.id)
    assert webhooks_tick()["outcomes"] == {"retry": 1}
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and delivery.last_status == 500
    # The first retry is due within WEBHOOK_RETRY_BASE_SECONDS (30 s).
    assert delivery.next_attempt_at <= timezone.now() + timedelta(seconds=30.5)
    assert webhooks_tick(now=later(31))["outcomes"] == {"retry": 1}
    assert webhooks_tick(now=later(200))["outcomes"] == {"delivered": 1}
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.DELIVERED, 3, 200)
    bodies = {h.body for h in receiver.hits}
    assert len(receiver.hits) == 3 and len(bodies) == 1  # the same bytes every time
    assert {h.headers["x-messenger-delivery"] for h in receiver.hits} == {str(delivery.event_id)}
    # /metrics counts each recorded outcome once.
    assert _delivered_metric("retry") - before["retry"] == 2
    assert _delivered_metric("delivered") - before["delivered"] == 1


def test_exhausted_attempts_mark_failed(receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    inbox = InboxFactory()
    webhook_create(url=receiver.url, subscriptions=["presence.updated"])
    receiver.default_status = 410
    presence(inbox.id)
    outcomes = [webhooks_tick(now=later(i * 10_000))["outcomes"] for i in range(5)]
    assert outcomes == [{"retry": 1}, {"retry": 1}, {"failed": 1}, {}, {}]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.FAILED, 3, 410)
    assert delivery.last_error == "HTTP 410" and delivery.next_attempt_at is None


def test_retry_schedule_is_exponential_with_full_jitter(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.WEBHOOK_RETRY_MAX_SECONDS = 3600
    ceilings = [30, 60, 120, 240, 480, 960, 1920, 3600]
    for failures, ceiling in enumerate(ceilings, start=1):
        delays = [hooks.retry_delay(failures=failures) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= ceiling
        assert max(delays) > ceiling / 2  # spread over the whole range
    # 9 attempts: the 8 waits between them can span up to ~2 h, about 1 h on average.
    assert sum(ceilings) / 2 == pytest.approx(3705)


def test_crash_between_send_and_record_sends_again(receiver, monkeypatch):
    inbox = InboxFactory()
    webhook_create(url=receiver.url, subscriptions=["presence.updated"])
    presence(inbox.id)

    def crash(**kwargs):
        raise RuntimeError("worker died after sending")

    with monkeypatch.context() as patch:
        patch.setattr(hooks, "delivery_record", crash)
        with pytest.raises(RuntimeError):
            webhooks_tick()
    assert len(receiver.hits) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1 and delivery.outcomes == 0
    # While the lease runs, nobody sends it again; after it, it is sent again and recorded.
    assert webhooks_tick(now=later(hooks.LEASE_SECONDS - 5))["outcomes"] == {}
    assert webhooks_tick(now=later(hooks.LEASE_SECONDS + 1))["outcomes"] == {"delivered": 1}
    assert len(receiver.hits) == 2
    assert receiver.hits[0].body == receiver.hits[1].body
    assert receiver.hits[0].headers["x-messenger-delivery"] == receiver.hits[1].headers["x-messenger-delivery"]


def test_event_order_per_webhook(receiver):
    inbox = InboxFactory()
    webhook_create(url=receiver.url, subscriptions=["presence.updated"])
    ids = [presence(inbox.id, status) for status in ("online", "busy", "offline", "online")]
    webhooks_tick()
    assert [int(h.headers["x-messenger-delivery"]) for h in receiver.hits] == ids


def test_a_failed_event_blocks_later_ones_until_its_first_attempt_then_is_overtaken(receiver):
    inbox = InboxFactory()
    webhook_create(url=receiver.url, subscriptions=["presence.updated"])
    receiver.statuses = [500]
    first, second = presence(inbox.id), presence(inbox.id, "busy")
    webhooks_tick()
    sent = [int(h.headers["x-messenger-delivery"]) for h in receiver.hits]
    assert sent == [first, second]  # the first failed, then the second went out
    assert WebhookDelivery.objects.get(event_id=first).state == DeliveryState.PENDING
    assert WebhookDelivery.objects.get(event_id=second).state == DeliveryState.DELIVERED


def test_a_slow_endpoint_does_not_hold_up_the_others(receiver, settings):
    """The slow endpoint answers only once the other one has been reached: with the chains run
    one after the other (slow first) it would time out instead of succeeding."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 4.0
    settings.WEBHOOK_CONCURRENCY = 2
    inbox = InboxFactory()
    slow = webhook_create(url=receiver.url + "/slow", subscriptions=["presence.updated"])
    fast = webhook_create(url=receiver.url + "/fast", subscriptions=["presence.updated"])

    def hold_slow(hit) -> None:
        if hit.path == "/slow":
            with receiver.arrived:
                receiver.arrived.wait_for(lambda: any(h.path == "/fast" for h in receiver.hits), timeout=8)

    receiver.before_answer = hold_slow
    presence(inbox.id)
    assert webhooks_tick()["outcomes"] == {"delivered": 2}
    assert WebhookDelivery.objects.get(webhook=slow).state == DeliveryState.DELIVERED
    assert WebhookDelivery.objects.get(webhook=fast).state == DeliveryState.DELIVERED


def test_a_paused_webhook_holds_its_pending_deliveries(receiver):
    inbox = InboxFactory()
    hook = webhook_create(url=receiver.url, subscriptions=["presence.updated"])
    first = presence(inbox.id)
    hooks.webhooks_fan_out()
    hooks.webhook_update(webhook_id=hook.id, active=False)
    presence(inbox.id)  # while paused: no delivery for it
    assert webhooks_tick()["outcomes"] == {} and receiver.hits == []
    hooks.webhook_update(webhook_id=hook.id, active=True)
    assert webhooks_tick()["outcomes"] == {"delivered": 1}
    assert [int(h.headers["x-messenger-delivery"]) for h in receiver.hits] == [first]


def test_the_first_webhook_does_not_get_the_retained_outbox(receiver):
    inbox = InboxFactory()
    presence(inbox.id)  # before any webhook
    webhook_create(url=receiver.url, subscriptions=["presence.updated"])
    after = presence(inbox.id, "busy")
    webhooks_tick()
    assert [int(h.headers["x-messenger-delivery"]) for h in receiver.hits] == [after]
