"""``csat.submit`` over the widget socket: the same rules as REST, as replies (DESIGN.md §11)."""
from __future__ import annotations

import pytest

from chat.models import Conversation, CsatResponse, Inbox
from chat.services.conversations import conversation_set_status
from chat.services.messages import visitor_message_send
from tests.realtime.conftest import command, db, joined_operator, widget_socket

pytestmark = pytest.mark.django_db(transaction=True)


def _resolved(world) -> Conversation:
    Inbox.objects.filter(pk=world.inbox_a.pk).update(csat_survey_enabled=True)
    message = visitor_message_send(contact_inbox_id=world.visitor.pk, content="help").message
    conversation_set_status(conversation_id=message.conversation_id, status="resolved")
    return Conversation.objects.get(pk=message.conversation_id)


async def test_csat_submit_over_the_widget_socket(world):
    conversation = await db(_resolved)(world)
    comm, _ = await widget_socket(world.visitor)
    bad = await command(comm, "csat.submit", {"conversation_id": conversation.pk, "rating": 9})
    assert not bad["ok"] and bad["error"]["code"] == "invalid_data" and "rating" in bad["error"]["fields"]
    bad = await command(comm, "csat.submit", {"conversation_id": conversation.pk, "rating": True})
    assert not bad["ok"] and bad["error"]["code"] == "invalid_data"
    ok = await command(comm, "csat.submit", {"conversation_id": conversation.pk, "rating": 5, "feedback": "Thanks"})
    assert ok["ok"], ok
    assert ok["data"]["rating"] == 5 and ok["data"]["feedback"] == "Thanks"
    # The survey turns answered on the visitor's own socket too (message.updated).
    assert await db(lambda: CsatResponse.objects.get(conversation=conversation).rating)() == 5
    await comm.disconnect()


async def test_another_visitor_gets_not_found_and_operators_cannot_submit(world):
    conversation = await db(_resolved)(world)
    stranger, _ = await widget_socket(world.visitor_b)
    reply = await command(stranger, "csat.submit", {"conversation_id": conversation.pk, "rating": 1})
    assert not reply["ok"] and reply["error"]["code"] == "not_found"
    await stranger.disconnect()
    operator = await joined_operator(world.op_a)
    reply = await command(operator, "csat.submit", {"conversation_id": conversation.pk, "rating": 1})
    assert not reply["ok"] and reply["error"]["code"] == "unknown_command"
    await operator.disconnect()
    assert not await db(CsatResponse.objects.exists)()
