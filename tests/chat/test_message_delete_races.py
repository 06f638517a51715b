"""Message delete under concurrency (PostgreSQL): two deletes of one message, a delete racing a
resolve and both sides sending in the same conversation. Nothing fails, nothing twice."""
from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from chat.models import Event, Message, Role
from chat.services.messages import message_create
from tests.concurrency import run_concurrently
from tests.factories import ContactInboxFactory, InboxFactory, InboxMemberFactory, UserFactory, make_conversation

ROUNDS = 12

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def desk(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.FLOOD_LIMIT_MESSAGES = 10_000
    inbox = InboxFactory(enable_auto_assignment=False)
    author = InboxMemberFactory(inbox=inbox).user
    admin = UserFactory(profile=Role.ADMINISTRATOR)
    visitor = ContactInboxFactory(inbox=inbox)
    conversation = make_conversation(contact_inbox=visitor)
    return type("Desk", (), {"author": author, "admin": admin, "visitor": visitor, "conversation": conversation})


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_author_and_administrator_delete_the_same_message_at_once(desk):
    author, admin = _client(desk.author), _client(desk.admin)
    cid = desk.conversation.pk
    for round_no in range(ROUNDS):
        message = message_create(conversation_id=cid, direction="outgoing", content=f"m{round_no}",
                                 sender_user=desk.author).message
        url = f"/api/v1/conversations/{cid}/messages/{message.pk}/"
        results = run_concurrently(lambda i, url=url: (author if i == 0 else admin).delete(url), 2)
        assert [r.status_code for r in results] == [200, 200]
        assert all(r.json()["content_attributes"]["deleted"] for r in results)
        updates = Event.objects.filter(type="message.updated", payload__id=message.pk)
        assert updates.count() == 1  # deleted once, the other answer is the idempotent repeat


def test_delete_racing_resolve_and_both_sides_sending(desk):
    """Delete (conversation → message row), resolve (conversation), a visitor's message (contact
    inbox → conversation) and an operator's message at the same moment: every one succeeds."""
    author = _client(desk.author)
    cid = desk.conversation.pk
    token = desk.visitor.pubsub_token
    for round_no in range(ROUNDS):
        message = message_create(conversation_id=cid, direction="outgoing", content=f"d{round_no}",
                                 sender_user=desk.author).message

        def act(index: int, message_id: int = message.pk, r: int = round_no) -> int:
            client = APIClient()
            if index == 0:
                return author.delete(f"/api/v1/conversations/{cid}/messages/{message_id}/").status_code
            if index == 1:
                return _client(desk.admin).post(f"/api/v1/conversations/{cid}/toggle_status",
                                                {"status": "resolved"}, format="json").status_code
            if index == 2:
                return client.post("/api/widget/v1/messages", {"content": f"v{r}", "echo_id": f"v{r}"}, format="json",
                                   HTTP_X_WIDGET_TOKEN=token).status_code
            return author.post(f"/api/v1/conversations/{cid}/messages/", {"content": f"o{r}", "echo_id": f"o{r}"},
                               format="json").status_code

        statuses = run_concurrently(act, 4)
        assert statuses[0] == 200 and statuses[1] == 200 and statuses[3] == 201, statuses
        assert statuses[2] in (200, 201), statuses
        assert Message.objects.get(pk=message.pk).content == ""
    assert Message.objects.filter(conversation_id=cid, direction="outgoing", content__startswith="o").count() == ROUNDS
