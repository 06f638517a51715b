"""Contacts for operators: scoped list/search, detail, update, block/unblock, conversations."""
from __future__ import annotations

import pytest

from chat.events import contact_inbox_group
from chat.models import Contact
from tests.api.conftest import assert_error, widget_client
from tests.controls import controls_sent
from tests.factories import ContactFactory, ContactInboxFactory, make_conversation

pytestmark = pytest.mark.django_db


def test_list_is_scoped_and_searchable(world, client_a, admin_client):
    ContactInboxFactory(inbox=world.inbox_a, contact=ContactFactory(name="Zed Quux", email="zed@x.example"))
    names = [c["name"] for c in client_a.get("/api/v1/contacts/").json()["results"]]
    assert "Zed Quux" in names and world.visitor_b.contact.name not in names
    assert len(admin_client.get("/api/v1/contacts/").json()["results"]) == 3
    found = client_a.get("/api/v1/contacts/", {"q": "zed@"}).json()["results"]
    assert [c["name"] for c in found] == ["Zed Quux"]
    row = found[0]
    assert "pubsub_token" not in str(row)
    assert row["contact_inboxes"][0]["inbox"] == world.inbox_a.pk


def test_pages(world, admin_client):
    for _ in range(4):
        ContactInboxFactory(inbox=world.inbox_a)
    first = admin_client.get("/api/v1/contacts/", {"limit": 4}).json()
    second = admin_client.get("/api/v1/contacts/", {"limit": 4, "before": first["next"]}).json()
    ids = [c["id"] for c in first["results"] + second["results"]]
    assert len(ids) == len(set(ids)) == 6 and second["next"] is None


def test_other_inbox_contact_is_404(world, client_a):
    other = world.visitor_b.contact_id
    for method, url, data in [
        ("get", f"/api/v1/contacts/{other}/", None),
        ("patch", f"/api/v1/contacts/{other}/", {"name": "x"}),
        ("post", f"/api/v1/contacts/{other}/block", None),
        ("post", f"/api/v1/contacts/{other}/unblock", None),
        ("get", f"/api/v1/contacts/{other}/conversations/", None),
    ]:
        assert_error(getattr(client_a, method)(url, data, format="json"), 404, "not_found")
    assert not Contact.objects.get(pk=other).blocked


def test_update_validates_email_and_phone(world, client_a):
    url = f"/api/v1/contacts/{world.visitor_a.contact_id}/"
    body = client_a.patch(url, {"email": "Ann@Example.COM", "phone": "+33 6 12 34 56 78", "name": "Ann"},
                          format="json").json()
    assert body["email"] == "Ann@example.com" and body["phone"] == "+33612345678" and body["name"] == "Ann"
    error = assert_error(client_a.patch(url, {"email": "not-an-email"}, format="json"), 400, "invalid_data")
    assert "email" in error["fields"]
    assert_error(client_a.patch(url, {"phone": "12"}, format="json"), 400, "invalid_data")
    body = client_a.patch(url, {"custom_attributes": {"tier": "gold"}}, format="json").json()
    assert body["custom_attributes"] == {"tier": "gold"} and body["email"] == "Ann@example.com"


def test_block_closes_sockets_and_refuses_messages_unblock_restores(world, client_a):
    contact_id = world.visitor_a.contact_id
    second_visit = ContactInboxFactory(inbox=world.inbox_b, contact=world.visitor_a.contact)
    groups = [contact_inbox_group(world.visitor_a.pk), contact_inbox_group(second_visit.pk)]
    response, sent = controls_sent(groups, lambda: client_a.post(f"/api/v1/contacts/{contact_id}/block"))
    assert response.json()["blocked"] is True
    assert sorted(sent) == sorted((group, {"type": "socket.close", "code": 4403}) for group in groups)
    widget = widget_client(world.visitor_a)
    assert_error(widget.post("/api/widget/v1/messages", {"content": "hi"}, format="json"), 403, "contact_blocked")
    assert client_a.post(f"/api/v1/contacts/{contact_id}/unblock").json()["blocked"] is False
    assert widget.post("/api/widget/v1/messages", {"content": "hi"}, format="json").status_code == 201


def test_contact_conversations_all_statuses_in_scope(world, client_a):
    make_conversation(contact_inbox=ContactInboxFactory(inbox=world.inbox_b, contact=world.visitor_a.contact))
    body = client_a.get(f"/api/v1/contacts/{world.visitor_a.contact_id}/conversations/").json()
    assert [c["id"] for c in body["results"]] == [world.conv_a.pk]  # not the one in inbox B
    assert "last_event_id" in body
