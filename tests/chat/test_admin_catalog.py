"""Django admin of canned responses and labels: every save and delete goes through the services
(normalization, uniqueness as form errors, the events of a label's deletion)."""
from __future__ import annotations

import pytest
from django.test import Client

from chat.models import CannedResponse, Label
from chat.services.canned_responses import canned_response_create
from chat.services.labels import conversation_set_labels, label_create
from tests.factories import InboxFactory, UserFactory, make_conversation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_site():
    client = Client()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    return client


def test_canned_responses_are_saved_by_the_service(admin_site):
    inbox = InboxFactory()
    response = admin_site.post("/admin/chat/cannedresponse/add/",
                               {"short_code": " /Refund ", "content": "We refund.", "inbox": inbox.pk})
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = CannedResponse.objects.get()
    assert (saved.short_code, saved.inbox_id) == ("refund", inbox.pk)  # normalized by the service
    # A duplicate in the same scope is a form error, nothing written.
    response = admin_site.post("/admin/chat/cannedresponse/add/",
                               {"short_code": "REFUND", "content": "Again.", "inbox": inbox.pk})
    assert response.status_code == 200 and "Already used in this inbox." in response.content.decode()
    response = admin_site.post("/admin/chat/cannedresponse/add/", {"short_code": "a b", "content": "x"})
    assert response.status_code == 200 and "no spaces" in response.content.decode()
    assert CannedResponse.objects.count() == 1
    response = admin_site.post(f"/admin/chat/cannedresponse/{saved.pk}/change/",
                               {"short_code": "refund", "content": "Refunds take 3 days.", "inbox": ""})
    assert response.status_code == 302
    saved.refresh_from_db()
    assert (saved.content, saved.inbox_id) == ("Refunds take 3 days.", None)
    assert admin_site.post(f"/admin/chat/cannedresponse/{saved.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not CannedResponse.objects.exists()
    other = canned_response_create(short_code="x", content="y")
    admin_site.post("/admin/chat/cannedresponse/", {"action": "delete_selected", "_selected_action": [other.pk],
                                                     "post": "yes"})
    assert not CannedResponse.objects.exists()


def test_labels_are_saved_and_deleted_by_the_service(admin_site, published):
    response = admin_site.post("/admin/chat/label/add/", {"name": " VIP ", "color": "#AA0000", "description": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Label.objects.get().name == "vip"
    response = admin_site.post("/admin/chat/label/add/", {"name": "Vip", "color": "#000000", "description": ""})
    assert response.status_code == 200 and "A label with this name exists." in response.content.decode()
    response = admin_site.post("/admin/chat/label/add/", {"name": "<b>x</b>", "color": "#000000", "description": ""})
    assert response.status_code == 200
    assert Label.objects.count() == 1
    conversation = make_conversation()
    label_create(name="refund")
    conversation_set_labels(conversation_id=conversation.pk, labels=["vip", "refund"])
    published.clear()
    vip = Label.objects.get(name="vip")
    assert admin_site.post(f"/admin/chat/label/{vip.pk}/delete/", {"post": "yes"}).status_code == 302
    assert [e.payload["labels"] for e in published.of_type("conversation.updated")] == [["refund"]]
