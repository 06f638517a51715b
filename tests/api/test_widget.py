"""Widget REST: sessions (identity HMAC), messages, typing, read; scoping, throttles, CORS."""
from __future__ import annotations

from unittest import mock

import pytest
from rest_framework.test import APIClient

from chat.api.security import WidgetIpThrottle, WidgetTokenThrottle
from chat.models import ContactInbox, Conversation
from chat.services.conversations import conversation_set_status
from chat.services.widget import identifier_hash
from tests.api.conftest import assert_error, operator_says, visitor_says, widget_client
from tests.factories import ContactFactory, ContactInboxFactory

pytestmark = pytest.mark.django_db


def start(inbox, **data):
    return APIClient().post("/api/widget/v1/sessions", {"website_token": inbox.website_token, **data}, format="json")


def test_new_session_then_resume_by_source_id(world):
    first = start(world.inbox_a, name="Vi")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["contact"]["name"] == "Vi" and body["conversation"] is None
    assert set(body["contact_inbox"]) == {"source_id", "pubsub_token"}
    again = start(world.inbox_a, source_id=body["contact_inbox"]["source_id"])
    assert again.status_code == 200
    assert again.json()["contact_inbox"] == body["contact_inbox"]
    assert again.json()["contact"]["id"] == body["contact"]["id"]


def test_session_returns_the_current_conversation(world):
    visitor_says(world.visitor_a, "hi")
    body = start(world.inbox_a, source_id=world.visitor_a.source_id).json()
    assert body["conversation"]["id"] == world.conv_a.pk
    assert "contact" not in body["conversation"] and "custom_attributes" not in body["conversation"]


def test_unknown_website_token_is_404():
    assert_error(APIClient().post("/api/widget/v1/sessions", {"website_token": "nope"}, format="json"), 404,
                 "not_found")


def test_identifier_with_valid_hash_links_to_the_identified_contact(world):
    known = ContactFactory(identifier="user-42", name="Known")
    digest = identifier_hash(secret=world.inbox_a.hmac_secret, identifier="user-42")
    response = start(world.inbox_a, identifier="user-42", identifier_hash=digest)
    assert response.status_code == 201, response.content
    assert response.json()["contact"]["id"] == known.pk
    # The same identity again, from another device: the same visitor and history.
    again = start(world.inbox_a, identifier="user-42", identifier_hash=digest.upper())
    assert again.status_code == 200
    assert again.json()["contact_inbox"] == response.json()["contact_inbox"]


def test_identifier_without_valid_hash_is_refused(world):
    ContactFactory(identifier="user-42")
    assert_error(start(world.inbox_a, identifier="user-42"), 403, "permission_denied")
    wrong = identifier_hash(secret=world.inbox_b.hmac_secret, identifier="user-42")  # other inbox's secret
    assert_error(start(world.inbox_a, identifier="user-42", identifier_hash=wrong), 403, "permission_denied")
    assert not ContactInbox.objects.filter(contact__identifier="user-42").exists()


def test_anonymous_visitor_identifies_in_place(world):
    anon = start(world.inbox_a).json()
    digest = identifier_hash(secret=world.inbox_a.hmac_secret, identifier="new-7")
    body = start(world.inbox_a, source_id=anon["contact_inbox"]["source_id"], identifier="new-7",
                 identifier_hash=digest).json()
    assert body["contact"]["id"] == anon["contact"]["id"]
    assert ContactInbox.objects.get(pubsub_token=body["contact_inbox"]["pubsub_token"]).contact.identifier == "new-7"


def test_leaked_source_id_of_identified_contact_does_not_open_it(world):
    known = ContactFactory(identifier="vip")
    visit = ContactInboxFactory(inbox=world.inbox_a, contact=known)
    response = start(world.inbox_a, source_id=visit.source_id)
    assert response.status_code == 201
    assert response.json()["contact"]["id"] != known.pk
    assert response.json()["contact_inbox"]["pubsub_token"] != visit.pubsub_token


def test_messages_read_own_only_no_notes_no_activity(world):
    visitor_says(world.visitor_a, "question")
    operator_says(world.conv_a, world.agent_a, "answer")
    operator_says(world.conv_a, world.agent_a, "secret note", private=True)
    conversation_set_status(conversation_id=world.conv_a.pk, status="resolved", actor_user=world.agent_a)
    visitor_says(world.visitor_b, "other visitor's words")
    body = widget_client(world.visitor_a).get("/api/widget/v1/messages").json()
    assert set(body) >= {"results", "last_event_id"}
    assert [m["content"] for m in body["results"]] == ["answer", "question"]
    assert all(not m["private"] and m["direction"] != "activity" for m in body["results"])


def test_messages_paging(world):
    for i in range(5):
        visitor_says(world.visitor_a, f"m{i}")
    client = widget_client(world.visitor_a)
    first = client.get("/api/widget/v1/messages", {"limit": 3}).json()
    second = client.get("/api/widget/v1/messages", {"limit": 3, "before": first["next"]}).json()
    assert [m["content"] for m in first["results"] + second["results"]] == ["m4", "m3", "m2", "m1", "m0"]


def test_send_creates_conversation_and_is_idempotent(world, published):
    visitor = ContactInboxFactory(inbox=world.inbox_a)
    client = widget_client(visitor)
    first = client.post("/api/widget/v1/messages", {"content": "hello", "echo_id": "w-1"}, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["direction"] == "incoming" and first.json()["echo_id"] == "w-1"
    again = client.post("/api/widget/v1/messages", {"content": "hello", "echo_id": "w-1"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert Conversation.objects.filter(contact_inbox=visitor).count() == 1
    assert published.types()[:2] == ["conversation.created", "message.created"]


def test_token_errors(world):
    assert_error(APIClient().get("/api/widget/v1/messages"), 401, "not_authenticated")
    bad = APIClient()
    bad.credentials(HTTP_X_WIDGET_TOKEN="forged")
    assert_error(bad.get("/api/widget/v1/messages"), 401, "not_authenticated")
    # An operator token is not a widget token.
    assert_error(APIClient().post("/api/widget/v1/typing", {"typing": True}, format="json"), 401, "not_authenticated")


def test_visitor_cannot_reach_another_visitors_data(world):
    # The only handle a widget has is its own token; operator endpoints do not accept it.
    client = widget_client(world.visitor_a)
    assert_error(client.get(f"/api/v1/conversations/{world.conv_b.pk}/messages/"), 401, "not_authenticated")
    assert_error(client.get(f"/api/v1/conversations/{world.conv_a.pk}/"), 401, "not_authenticated")
    visitor_says(world.visitor_b, "mine only")
    assert widget_client(world.visitor_a).get("/api/widget/v1/messages").json()["results"] == []
    # Naming visitor 2's conversation: 404, as for a conversation that does not exist.
    assert_error(client.get(f"/api/widget/v1/messages?conversation_id={world.conv_b.pk}"), 404, "not_found")
    assert_error(client.get("/api/widget/v1/messages?conversation_id=999999"), 404, "not_found")
    visitor_says(world.visitor_a, "my own")
    own = client.get(f"/api/widget/v1/messages?conversation_id={world.conv_a.pk}").json()["results"]
    assert [m["content"] for m in own] == ["my own"]


def test_typing_and_read(world, published):
    client = widget_client(world.visitor_a)
    with mock.patch("chat.services.typing.notify_group") as notify:
        assert client.post("/api/widget/v1/typing", {"typing": True}, format="json").status_code == 204
    frame = notify.call_args.args[1]["frame"]
    assert frame["type"] == "conversation.typing_started" and frame["conversation_id"] == world.conv_a.pk
    assert_error(client.post("/api/widget/v1/typing", {}, format="json"), 400, "invalid_data")
    assert client.post("/api/widget/v1/read").status_code == 204
    world.conv_a.refresh_from_db()
    assert world.conv_a.contact_last_seen_at is not None
    assert published.of_type("conversation.read")[0].payload["side"] == "contact"


def test_widget_throttled_per_token_and_per_ip(world, monkeypatch):
    monkeypatch.setitem(WidgetTokenThrottle.THROTTLE_RATES, "widget_token", "2/min")
    monkeypatch.setitem(WidgetIpThrottle.THROTTLE_RATES, "widget_ip", "1000/min")
    client = widget_client(world.visitor_a)
    assert client.get("/api/widget/v1/messages").status_code == 200
    assert client.get("/api/widget/v1/messages").status_code == 200
    assert_error(client.get("/api/widget/v1/messages"), 429, "rate_limited")
    assert widget_client(world.visitor_b).get("/api/widget/v1/messages").status_code == 200  # own quota

    monkeypatch.setitem(WidgetIpThrottle.THROTTLE_RATES, "widget_ip", "1/min")
    monkeypatch.setitem(WidgetTokenThrottle.THROTTLE_RATES, "widget_token", "1000/min")
    from chat.store import get_store

    get_store().flush()
    forger = APIClient()
    forger.credentials(HTTP_X_WIDGET_TOKEN="guess-1")
    assert_error(forger.get("/api/widget/v1/messages"), 401, "not_authenticated")
    forger.credentials(HTTP_X_WIDGET_TOKEN="guess-2")
    assert_error(forger.get("/api/widget/v1/messages"), 429, "rate_limited")  # throttled before the lookup
    assert_error(APIClient().post("/api/widget/v1/sessions", {"website_token": "x"}, format="json"), 429,
                 "rate_limited")


def test_cors_only_for_the_inboxs_allowed_origins(world):
    world.inbox_b.allowed_origins = ["https://other.example"]
    world.inbox_b.save()
    allowed = widget_client(world.visitor_a, origin="https://shop.example").get("/api/widget/v1/messages")
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Origin" in allowed["Vary"]
    # An origin another inbox allows is not enough for this inbox's answers.
    foreign = widget_client(world.visitor_a, origin="https://other.example").get("/api/widget/v1/messages")
    assert foreign.status_code == 200 and "Access-Control-Allow-Origin" not in foreign
    evil = widget_client(world.visitor_a, origin="https://evil.example").get("/api/widget/v1/messages")
    assert "Access-Control-Allow-Origin" not in evil

    session = APIClient().post("/api/widget/v1/sessions", {"website_token": world.inbox_a.website_token},
                               format="json", HTTP_ORIGIN="https://shop.example")
    assert session["Access-Control-Allow-Origin"] == "https://shop.example"
    session = APIClient().post("/api/widget/v1/sessions", {"website_token": world.inbox_a.website_token},
                               format="json", HTTP_ORIGIN="https://other.example")
    assert "Access-Control-Allow-Origin" not in session


def test_cors_preflight(world):
    ok = APIClient().options("/api/widget/v1/messages", HTTP_ORIGIN="https://shop.example",
                             HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                             HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, x-widget-token")
    assert ok.status_code == 204
    assert ok["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "X-Widget-Token" in ok["Access-Control-Allow-Headers"]
    assert "POST" in ok["Access-Control-Allow-Methods"]
    refused = APIClient().options("/api/widget/v1/sessions", HTTP_ORIGIN="https://evil.example",
                                  HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in refused
    # Operator endpoints never grant CORS.
    operator = APIClient().get("/api/v1/conversations/", HTTP_ORIGIN="https://shop.example")
    assert "Access-Control-Allow-Origin" not in operator


def test_session_details_phone_and_custom_attributes(world):
    body = start(world.inbox_a, name="Vi", email="vi@example.com", phone="+33 6 12 34 56 78",
                 custom_attributes={"plan": "pro"}).json()
    contact = ContactInbox.objects.get(pubsub_token=body["contact_inbox"]["pubsub_token"]).contact
    assert (contact.name, contact.email, contact.phone) == ("Vi", "vi@example.com", "+33612345678")
    assert contact.custom_attributes == {"plan": "pro"}
    start(world.inbox_a, source_id=body["contact_inbox"]["source_id"], custom_attributes={"cart": 3})
    contact.refresh_from_db()
    assert contact.custom_attributes == {"plan": "pro", "cart": 3}
    assert_error(start(world.inbox_a, email="not-an-email"), 400, "invalid_data")
    assert_error(start(world.inbox_a, phone="12"), 400, "invalid_data")


def test_verified_identity_updates_the_contact(world):
    known = ContactFactory(identifier="user-9", name="Old name")
    digest = identifier_hash(secret=world.inbox_a.hmac_secret, identifier="user-9")
    start(world.inbox_a, identifier="user-9", identifier_hash=digest, name="New name")
    known.refresh_from_db()
    assert known.name == "New name"


def test_unknown_source_id_is_used_and_a_taken_one_is_not_an_error(world):
    body = start(world.inbox_a, source_id="visitor-chosen-1").json()
    assert body["contact_inbox"]["source_id"] == "visitor-chosen-1"
    from chat.services.widget import _new_contact_inbox

    again = _new_contact_inbox(inbox=world.inbox_a, contact=ContactFactory(), source_id="visitor-chosen-1")
    assert again.source_id != "visitor-chosen-1"


@pytest.mark.parametrize("name,content_type", [
    ("x.svg", "image/svg+xml"), ("x.html", "text/html"), ("x.exe", "application/octet-stream"), ("x.exe", "image/png"),
])
def test_widget_rest_uploads_meet_the_attachment_policy(world, settings, tmp_path, name, content_type):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from chat.models import Attachment

    settings.MEDIA_ROOT = str(tmp_path)
    upload = SimpleUploadedFile(name, b"<svg onload=alert(1)>", content_type=content_type)
    response = widget_client(world.visitor_a).post("/api/widget/v1/messages", {"content": "f", "attachments": [upload]},
                                                   format="multipart")
    assert_error(response, 400, "invalid_attachment")
    assert Attachment.objects.count() == 0
