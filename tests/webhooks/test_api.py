"""/api/v1/webhooks/: administrators only; the secret is generated and shown once; validation;
the deliveries log; the test event."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.utils import timezone

from chat.models import DeliveryState, Role, Webhook, WebhookDelivery
from tests.api.conftest import assert_error, token_client
from tests.factories import InboxFactory, InboxMemberFactory, UserFactory


@pytest.fixture
def admin(db):
    return token_client(UserFactory(username="root", profile=Role.ADMINISTRATOR))


@pytest.fixture
def agent(db):
    user = UserFactory(username="ann")
    InboxMemberFactory(user=user)
    return token_client(user)


def create(client, **body):
    return client.post("/api/v1/webhooks/", {"url": "https://crm.example/hook", "subscriptions": ["message.created"],
                                             **body}, format="json")


def test_create_generates_and_shows_the_secret_once(admin):
    response = create(admin)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert len(body["secret"]) == 64 and body["secret"] == Webhook.objects.get().secret
    assert body["subscriptions"] == ["message.created"] and body["inbox"] is None and body["active"] is True
    listed = admin.get("/api/v1/webhooks/").json()
    assert [w["id"] for w in listed] == [body["id"]] and "secret" not in listed[0]
    assert "secret" not in admin.get(f"/api/v1/webhooks/{body['id']}/").json()


def test_given_secret_is_kept(admin):
    assert create(admin, secret="s" * 20).json()["secret"] == "s" * 20


def test_agents_and_anonymous_are_refused(agent, admin, client):
    hook_id = create(admin).json()["id"]
    for method, url in [("get", "/api/v1/webhooks/"), ("post", "/api/v1/webhooks/"),
                        ("patch", f"/api/v1/webhooks/{hook_id}/"), ("delete", f"/api/v1/webhooks/{hook_id}/"),
                        ("get", f"/api/v1/webhooks/{hook_id}/deliveries/"), ("post", f"/api/v1/webhooks/{hook_id}/test")]:
        assert_error(getattr(agent, method)(url, {}, format="json"), 403, "permission_denied")
        assert getattr(client, method)(url, {}, content_type="application/json").status_code in (401, 403)
    assert Webhook.objects.count() == 1


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://crm.example/x"}, "url"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"url": "https://user:pw@crm.example/x"}, "url"),
    ({"url": "https://crm.example/" + "a" * 2100}, "url"),
    ({"url": "https:///nohost"}, "url"),
    ({"subscriptions": []}, "subscriptions"),
    ({"subscriptions": ["message.created", "no.such_event"]}, "subscriptions"),
    ({"subscriptions": ["conversation.typing_started"]}, "subscriptions"),
    ({"inbox": 999999}, "inbox"),
    ({"secret": "short"}, "secret"),
])
def test_validation(admin, body, field):
    response = create(admin, **body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"].get("fields", {}), response.json()
    assert not Webhook.objects.exists()


def test_patch_and_delete(admin):
    inbox = InboxFactory()
    hook_id = create(admin).json()["id"]
    response = admin.patch(f"/api/v1/webhooks/{hook_id}/", {"inbox": inbox.id, "active": False,
                                                              "subscriptions": ["presence.updated"]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["inbox"] == inbox.id and response.json()["active"] is False
    assert response.json()["url"] == "https://crm.example/hook"
    assert admin.patch(f"/api/v1/webhooks/{hook_id}/", {"url": "gopher://x"}, format="json").status_code == 400
    assert admin.delete(f"/api/v1/webhooks/{hook_id}/").status_code == 204
    assert_error(admin.delete(f"/api/v1/webhooks/{hook_id}/"), 404, "not_found")
    assert_error(admin.patch("/api/v1/webhooks/999999/", {"active": True}, format="json"), 404, "not_found")


def test_deliveries_log_newest_first_paged(admin):
    hook = Webhook.objects.get(pk=create(admin).json()["id"])
    now = timezone.now()
    for event_id in range(1, 6):
        WebhookDelivery.objects.create(webhook=hook, event_id=event_id, event_type="message.created", body="{}",
                                       state=DeliveryState.DELIVERED if event_id < 5 else DeliveryState.PENDING,
                                       attempts=1, last_status=200, delivered_at=now, next_attempt_at=None)
    first = admin.get(f"/api/v1/webhooks/{hook.id}/deliveries/?limit=3").json()
    assert [d["event_id"] for d in first["results"]] == [5, 4, 3] and first["next"] == 3
    assert set(first["results"][0]) >= {"event_id", "event", "state", "attempts", "last_status", "next_attempt_at",
                                        "delivered_at"}
    assert first["results"][0]["state"] == "pending" and first["results"][1]["event"] == "message.created"
    second = admin.get(f"/api/v1/webhooks/{hook.id}/deliveries/?limit=3&before=3").json()
    assert [d["event_id"] for d in second["results"]] == [2, 1] and second["next"] is None
    assert_error(admin.get("/api/v1/webhooks/999999/deliveries/"), 404, "not_found")


def test_send_test_event(admin, receiver):
    hook = create(admin, url=receiver.url + "/t").json()
    response = admin.post(f"/api/v1/webhooks/{hook['id']}/test", {}, format="json")
    assert response.status_code == 200, response.json()
    result = response.json()
    assert result["delivered"] is True and result["status"] == 200 and result["error"] == ""
    (hit,) = receiver.hits
    assert hit.headers["x-messenger-event"] == "webhook.test"
    assert hit.headers["x-messenger-delivery"] == result["delivery"] and result["delivery"].startswith("test-")
    expected = "sha256=" + hmac.new(hook["secret"].encode(), hit.body, hashlib.sha256).hexdigest()
    assert hit.headers["x-messenger-signature"] == expected
    assert json.loads(hit.body)["event"] == "webhook.test"
    assert not WebhookDelivery.objects.exists()


def test_send_test_event_reports_a_failure(admin, receiver, settings):
    hook = create(admin, url=receiver.url).json()
    receiver.statuses = [500]
    assert admin.post(f"/api/v1/webhooks/{hook['id']}/test").json()["status"] == 500
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    result = admin.post(f"/api/v1/webhooks/{hook['id']}/test").json()
    assert result["delivered"] is False and result["status"] is None and "127.0.0.1" in result["error"]


def test_non_numeric_id_is_the_json_404(admin):
    assert_error(admin.get("/api/v1/webhooks/abc/"), 404, "not_found")
    assert_error(admin.post("/api/v1/webhooks/abc/test"), 404, "not_found")


def test_endpoints_are_in_the_schema(admin):
    paths = admin.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    assert {"/api/v1/webhooks/", "/api/v1/webhooks/{id}/", "/api/v1/webhooks/{id}/deliveries/",
            "/api/v1/webhooks/{id}/test/"} <= set(paths)
    assert set(paths["/api/v1/webhooks/{id}/"]) >= {"patch", "delete"}


def test_django_admin_shows_webhooks_without_secret_and_read_only(db):
    from django.test import Client

    hook = Webhook.objects.create(url="https://crm.example/h", subscriptions=["message.created"], secret="x" * 40)
    site = Client()
    site.force_login(UserFactory(is_superuser=True, is_staff=True))
    page = site.get(f"/admin/chat/webhook/{hook.pk}/change/")
    assert page.status_code == 200 and b"crm.example" in page.content and b"x" * 40 not in page.content
    assert site.post(f"/admin/chat/webhook/{hook.pk}/change/", {"url": "https://evil.example/"}).status_code == 403
    assert site.get("/admin/chat/webhookdelivery/").status_code == 200
