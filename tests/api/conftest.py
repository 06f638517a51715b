"""Fixtures of the REST API tests: two inboxes (A and B), an operator of each, an administrator,
API clients authenticated by token, widget visitors."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from chat.models import ContactInbox, Conversation, Inbox, Role
from chat.services.messages import message_create, visitor_message_send
from tests.factories import ContactInboxFactory, InboxFactory, InboxMemberFactory, UserFactory, make_conversation


def token_client(user: Any) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def widget_client(contact_inbox: ContactInbox, *, origin: str | None = None) -> APIClient:
    client = APIClient()
    headers = {"HTTP_X_WIDGET_TOKEN": contact_inbox.pubsub_token}
    if origin:
        headers["HTTP_ORIGIN"] = origin
    client.credentials(**headers)
    return client


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:
    """PBKDF2 at full strength costs most of a test's setup; these tests are not about hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    inbox_a: Inbox
    inbox_b: Inbox
    agent_a: Any
    agent_b: Any
    admin: Any
    visitor_a: ContactInbox
    visitor_b: ContactInbox
    conv_a: Conversation
    conv_b: Conversation


@pytest.fixture
def world(db) -> World:
    inbox_a = InboxFactory(name="A")
    inbox_b = InboxFactory(name="B")
    agent_a = UserFactory(username="ann")
    agent_b = UserFactory(username="bob")
    admin = UserFactory(username="root", profile=Role.ADMINISTRATOR)
    InboxMemberFactory(inbox=inbox_a, user=agent_a)
    InboxMemberFactory(inbox=inbox_b, user=agent_b)
    visitor_a = ContactInboxFactory(inbox=inbox_a)
    visitor_b = ContactInboxFactory(inbox=inbox_b)
    conv_a = make_conversation(contact_inbox=visitor_a)
    conv_b = make_conversation(contact_inbox=visitor_b)
    return World(inbox_a, inbox_b, agent_a, agent_b, admin, visitor_a, visitor_b, conv_a, conv_b)


@pytest.fixture
def client_a(world: World) -> APIClient:
    return token_client(world.agent_a)


@pytest.fixture
def client_b(world: World) -> APIClient:
    return token_client(world.agent_b)


@pytest.fixture
def admin_client(world: World) -> APIClient:
    return token_client(world.admin)


def visitor_says(contact_inbox: ContactInbox, content: str, **kwargs: Any):
    return visitor_message_send(contact_inbox_id=contact_inbox.pk, content=content, **kwargs).message


def operator_says(conversation: Conversation, user: Any, content: str, **kwargs: Any):
    return message_create(conversation_id=conversation.pk, direction="outgoing", content=content,
                          sender_user=user, **kwargs).message


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    return body["error"]
