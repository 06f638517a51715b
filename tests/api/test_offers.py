"""Ring mode over REST: inbox settings (validated), the caller's pending offers, accept and
decline for the panel without its socket, and their place in the OpenAPI schema."""
from __future__ import annotations

import time

import pytest

from chat.models import Conversation, ConversationOffer, Inbox, OfferState
from presence.tracker import get_tracker
from tests.api.conftest import assert_error, token_client
from tests.factories import ContactInboxFactory, InboxMemberFactory, make_conversation

pytestmark = pytest.mark.django_db(transaction=True)


def test_inbox_ring_settings_are_exposed_and_validated(world, admin_client):
    url = f"/api/v1/inboxes/{world.inbox_a.pk}/"
    body = admin_client.get(url).json()
    assert (body["assignment_mode"], body["ring_timeout_seconds"]) == ("auto", 30)
    ok = admin_client.patch(url, {"assignment_mode": "ring", "ring_timeout_seconds": 5}, format="json")
    assert ok.status_code == 200 and (ok.json()["assignment_mode"], ok.json()["ring_timeout_seconds"]) == ("ring", 5)
    assert admin_client.patch(url, {"ring_timeout_seconds": 600}, format="json").status_code == 200
    for bad in ({"ring_timeout_seconds": 4}, {"ring_timeout_seconds": 601}, {"ring_timeout_seconds": "ten"},
                {"ring_timeout_seconds": None}, {"assignment_mode": "shout"}, {"assignment_mode": None}):
        response = assert_error(admin_client.patch(url, bad, format="json"), 400, "invalid_data")
        assert set(response["fields"]) == set(bad), response
    assert Inbox.objects.values_list("assignment_mode", "ring_timeout_seconds").get(pk=world.inbox_a.pk) == ("ring", 600)
    created = admin_client.post("/api/v1/inboxes/", {"name": "Ringing", "assignment_mode": "ring"}, format="json")
    assert created.status_code == 201 and created.json()["assignment_mode"] == "ring"


def test_inbox_service_refuses_a_bad_timeout_from_any_caller(world):
    from chat.errors import InvalidData
    from chat.services.inboxes import inbox_update

    for value in (4, 601, True, 5.5):
        with pytest.raises(InvalidData):
            inbox_update(inbox=world.inbox_a, ring_timeout_seconds=value)


@pytest.fixture
def ringing(world):
    """Inbox A rings; Ann (agent_a) is online and the only member: she is offered a new one."""
    Inbox.objects.filter(pk=world.inbox_a.pk).update(assignment_mode="ring", enable_auto_assignment=True)
    get_tracker().set_online(user_id=world.agent_a.pk, socket_id="tab", now=time.time())
    conversation = make_conversation(contact_inbox=ContactInboxFactory(inbox=world.inbox_a))
    assert ConversationOffer.objects.get(conversation=conversation).user_id == world.agent_a.pk
    return conversation


def test_pending_offers_list_for_the_caller_only(world, ringing, client_a, client_b, admin_client):
    body = client_a.get("/api/v1/offers/").json()
    # Her inbox's waiting conversation rang her too; soonest to expire first.
    assert [o["conversation_id"] for o in body["results"]] == [world.conv_a.pk, ringing.pk]
    offer = body["results"][1]
    assert set(offer) == {"conversation_id", "expires_at", "timeout_seconds", "display_id", "inbox", "contact"}
    assert body["now"] < offer["expires_at"]
    assert client_b.get("/api/v1/offers/").json()["results"] == []
    assert admin_client.get("/api/v1/offers").json()["results"] == []
    assert token_client(world.agent_a).get("/api/v1/offers/").status_code == 200


def test_accept_and_decline_over_rest(world, ringing, client_a, client_b):
    url = f"/api/v1/conversations/{ringing.pk}"
    assert_error(client_b.post(f"{url}/accept", {}, format="json"), 404, "not_found")  # not in their inbox
    other = InboxMemberFactory(inbox=world.inbox_a).user
    assert_error(token_client(other).post(f"{url}/accept", {}, format="json"), 404, "not_found")  # not offered
    accepted = client_a.post(f"{url}/accept", {}, format="json")
    assert accepted.status_code == 200 and accepted.json()["assignee"]["id"] == world.agent_a.pk
    assert client_a.post(f"{url}/accept/", {}, format="json").status_code == 200  # repeat: ok
    assert_error(client_a.post(f"{url}/decline", {}, format="json"), 409, "conflict")  # it is hers now
    assert Conversation.objects.get(pk=ringing.pk).assignee_id == world.agent_a.pk


def test_decline_over_rest_then_a_late_accept_is_a_conflict(world, ringing, client_a):
    url = f"/api/v1/conversations/{ringing.pk}"
    declined = client_a.post(f"{url}/decline", {}, format="json")
    assert declined.status_code == 200 and declined.json() == {"conversation_id": ringing.pk, "state": "declined"}
    assert client_a.post(f"{url}/decline", {}, format="json").json()["state"] == "declined"
    assert_error(client_a.post(f"{url}/accept", {}, format="json"), 409, "conflict")
    assert not ConversationOffer.objects.filter(conversation=ringing, state=OfferState.PENDING).exists()


def test_offer_routes_are_in_the_schema(admin_client):
    paths = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert "get" in paths["/api/v1/offers/"]
    assert "post" in paths["/api/v1/conversations/{conversation_id}/accept"]
    assert "post" in paths["/api/v1/conversations/{conversation_id}/decline"]
