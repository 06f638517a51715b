"""A page costs the same number of queries whatever its size (no N+1)."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import Conversation
from chat.services.labels import conversation_set_labels, label_create
from chat.services.messages import message_create
from tests.api.conftest import operator_says, visitor_says
from tests.factories import ContactInboxFactory, make_conversation

pytestmark = pytest.mark.django_db


def _queries(client, url: str) -> int:
    client.get(url)  # warm-up: Django checks database features (e.g. SQLite JSON) once per process
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


@pytest.fixture
def busy_inbox(world, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    for name in ("vip", "refund", "late"):
        label_create(name=name)
    for i in range(55):
        visitor = ContactInboxFactory(inbox=world.inbox_a)
        conversation = make_conversation(contact_inbox=visitor)
        visitor_says(visitor, f"hello {i}")
        # Labels on most rows (payload ``labels``): still one prefetch per page.
        conversation_set_labels(conversation_id=conversation.pk, labels=[["vip"], ["vip", "refund", "late"], []][i % 3])
        if i % 2:
            Conversation.objects.filter(pk=conversation.pk).update(assignee=world.agent_a)
            operator_says(conversation, world.agent_a, "answer")
    for i in range(55):
        message_create(
            conversation_id=world.conv_a.pk, direction="outgoing", content=f"m{i}", sender_user=world.agent_a,
            attachments=[SimpleUploadedFile(f"{i}.txt", b"x", content_type="text/plain")] if i % 3 == 0 else (),
        )
    return world


def test_conversation_list_constant_queries(busy_inbox, client_a, django_assert_max_num_queries):
    small = _queries(client_a, "/api/v1/conversations/?limit=5")
    large = _queries(client_a, "/api/v1/conversations/?limit=50")
    assert small == large
    with django_assert_max_num_queries(small):
        body = client_a.get("/api/v1/conversations/?limit=50&status=all&q=hello").json()
    assert len(body["results"]) == 50
    assert sum(len(row["labels"]) for row in body["results"]) >= 50
    with django_assert_max_num_queries(small):
        assert client_a.get(body["next"]).status_code == 200
    with django_assert_max_num_queries(small):
        labelled = client_a.get("/api/v1/conversations/?limit=50&status=all&label=vip").json()
    assert len(labelled["results"]) == 37 and all("vip" in row["labels"] for row in labelled["results"])


def test_history_constant_queries(busy_inbox, client_a, django_assert_max_num_queries):
    url = f"/api/v1/conversations/{busy_inbox.conv_a.pk}/messages/"
    small = _queries(client_a, url + "?limit=5")
    large = _queries(client_a, url + "?limit=50")
    assert small == large
    with django_assert_max_num_queries(small):
        body = client_a.get(url + "?limit=50").json()
    assert sum(len(m["attachments"]) for m in body["results"]) >= 15


def test_widget_history_and_contacts_constant_queries(busy_inbox, client_a, settings):
    settings.FLOOD_LIMIT_MESSAGES = 1000
    from tests.api.conftest import widget_client

    widget = widget_client(busy_inbox.visitor_a)
    for i in range(30):
        visitor_says(busy_inbox.visitor_a, f"v{i}")
    assert _queries(widget, "/api/widget/v1/messages?limit=5") == _queries(widget, "/api/widget/v1/messages?limit=50")
    assert _queries(client_a, "/api/v1/contacts/?limit=5") == _queries(client_a, "/api/v1/contacts/?limit=50")
