"""The operator socket's ``conversation.labels`` command (docs/desk.md "Labels")."""
from __future__ import annotations

import pytest

from chat.services.labels import label_create
from tests.factories import make_conversation
from tests.realtime.conftest import (
    command,
    command_expecting,
    db,
    first_of,
    is_type,
    joined_operator,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def test_labels_command_sets_the_set_and_other_panels_get_the_update(world):
    await db(label_create)(name="vip")
    await db(label_create)(name="refund")
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    op = await joined_operator(world.op_a)
    admin = await joined_operator(world.admin)
    reply, frames = await command_expecting(op, "conversation.labels",
                                            {"conversation_id": conversation.pk, "labels": ["refund", "VIP"]},
                                            is_type("conversation.updated"), ref=1)
    assert reply["ok"] and reply["data"]["labels"] == ["refund", "vip"]
    assert first_of(frames, "conversation.updated")["data"]["labels"] == ["refund", "vip"]
    # Another operator's panel (the administrator's) gets the change live.
    _, seen = await command_expecting(admin, "ping", {}, is_type("conversation.updated"), ref="p")
    assert first_of(seen, "conversation.updated")["data"]["labels"] == ["refund", "vip"]

    bad = await command(op, "conversation.labels", {"conversation_id": conversation.pk, "labels": ["nope"]}, ref=2)
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_data"
    bad = await command(op, "conversation.labels", {"conversation_id": conversation.pk, "labels": "vip"}, ref=3)
    assert bad["error"]["code"] == "invalid_data"
    bad = await command(op, "conversation.labels", {"conversation_id": conversation.pk}, ref=4)
    assert bad["error"]["code"] == "invalid_data"
    bad = await command(op, "conversation.labels", {"conversation_id": conversation.pk, "labels": ["a\x00"]}, ref=5)
    assert bad["error"]["code"] == "invalid_data"
    await op.disconnect()
    await admin.disconnect()


async def test_labels_command_on_another_inboxs_conversation_is_not_found(world):
    await db(label_create)(name="vip")
    theirs = await db(make_conversation)(contact_inbox=world.visitor_b)
    op = await joined_operator(world.op_a)
    reply = await command(op, "conversation.labels", {"conversation_id": theirs.pk, "labels": ["vip"]}, ref=1)
    assert reply["ok"] is False and reply["error"]["code"] == "not_found"
    labels = await db(lambda: list(theirs.labels.values_list("name", flat=True)))()
    assert labels == []
    await op.disconnect()
