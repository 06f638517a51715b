"""One lock order (docs/architecture.md "Lock order"): the visitor and the operator writing to one
conversation at the same moment never deadlock.

The visitor path locks the contact inbox, then the conversation; the operator path locks the
conversation, and its COMMIT checks the deferred foreign key ``chat_event.contact_inbox_id``
with FOR KEY SHARE on the contact inbox row. With the contact inbox held FOR UPDATE that was a
cycle (27–33 of 80 simultaneous sends failed); under FOR NO KEY UPDATE it is not.
"""
from __future__ import annotations

import asyncio

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from chat.models import Message, MessageDirection
from tests.concurrency import run_concurrently
from tests.factories import (
    ContactInboxFactory,
    InboxFactory,
    InboxMemberFactory,
    make_conversation,
)
from tests.realtime.conftest import command, db, joined_operator, widget_socket

SOCKET_ROUNDS = 40
REST_ROUNDS = 20


@pytest.fixture
def pair(settings):
    """One visitor and one operator of its inbox, one open conversation between them."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.FLOOD_LIMIT_MESSAGES = 10_000  # the rounds are not a flood test
    inbox = InboxFactory(enable_auto_assignment=False)
    operator = InboxMemberFactory(inbox=inbox).user
    visitor = ContactInboxFactory(inbox=inbox)
    conversation = make_conversation(contact_inbox=visitor)
    return type("Pair", (), {"inbox": inbox, "operator": operator, "visitor": visitor, "conversation": conversation})


def _stored(conversation_id: int) -> dict[str, int]:
    rows = Message.objects.filter(conversation_id=conversation_id)
    return {
        "incoming": rows.filter(direction=MessageDirection.INCOMING).count(),
        "outgoing": rows.filter(direction=MessageDirection.OUTGOING).count(),
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
async def test_simultaneous_visitor_and_operator_socket_sends_all_succeed(pair):
    operator = await joined_operator(pair.operator)
    visitor, auth = await widget_socket(pair.visitor)
    assert auth["data"]["conversation_id"] == pair.conversation.pk
    failures = []
    try:
        for round_no in range(SOCKET_ROUNDS):
            replies = await asyncio.gather(
                command(visitor, "message.create", {"content": f"v{round_no}", "echo_id": f"v{round_no}"},
                        ref=f"v{round_no}"),
                command(operator, "message.create",
                        {"conversation_id": pair.conversation.pk, "content": f"o{round_no}", "echo_id": f"o{round_no}"},
                        ref=f"o{round_no}"),
            )
            failures += [reply for reply in replies if not reply["ok"]]
    finally:
        await visitor.disconnect()
        await operator.disconnect()
    assert failures == []
    assert await db(_stored)(pair.conversation.pk) == {"incoming": SOCKET_ROUNDS, "outgoing": SOCKET_ROUNDS}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_visitor_and_operator_rest_sends_all_succeed(pair):
    token = Token.objects.create(user=pair.operator).key
    pubsub_token = pair.visitor.pubsub_token
    conversation_id = pair.conversation.pk

    def send(index: int, round_no: int) -> int:
        client = APIClient()
        if index == 0:
            response = client.post("/api/widget/v1/messages", {"content": f"v{round_no}", "echo_id": f"v{round_no}"},
                                   format="json", HTTP_X_WIDGET_TOKEN=pubsub_token,
                                   HTTP_ORIGIN="https://shop.example")
        else:
            response = client.post(f"/api/v1/conversations/{conversation_id}/messages/",
                                   {"content": f"o{round_no}", "echo_id": f"o{round_no}"}, format="json",
                                   HTTP_AUTHORIZATION=f"Token {token}")
        return response.status_code

    statuses = []
    for round_no in range(REST_ROUNDS):
        statuses += run_concurrently(lambda index, r=round_no: send(index, r), 2)
    assert statuses == [201] * (2 * REST_ROUNDS)
    assert _stored(conversation_id) == {"incoming": REST_ROUNDS, "outgoing": REST_ROUNDS}


def test_every_row_lock_in_production_code_is_no_key_update():
    """The rule of docs/architecture.md "Lock order", kept from drifting: a FOR UPDATE lock
    would conflict again with the deferred foreign-key checks (FOR KEY SHARE)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    calls = []
    for package in ("chat", "assignment", "presence", "frontend"):
        for source in (root / package).rglob("*.py"):
            text = source.read_text()
            calls += [(source.relative_to(root), m.group(0)) for m in re.finditer(r"select_for_update\([^)]*\)", text)]
    assert calls, "no row locks found: the scan is broken"
    assert [call for call in calls if "no_key=True" not in call[1]] == []


@pytest.mark.django_db(transaction=True)
def test_locking_a_conversation_locks_only_its_row(pair):
    """``lock_conversation`` without ``related`` reads no other table: a join under FOR NO KEY
    UPDATE with no OF list would lock the branch, inbox, contact and contact inbox rows as well,
    against the lock order (it deadlocked a visitor's message against a delete and a resolve)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from chat.services.conversations import lock_conversation

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        lock_conversation(pair.conversation.pk)
    (read,) = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert "JOIN" not in read.upper()
