"""Blocking a contact ends their long-poll too (the SSE case runs on two live processes in
test_revocation_live.py): the contacts service sends the close order, the waiting request
answers at once instead of after LONGPOLL_WAIT_SECONDS, and the next one is refused."""
from __future__ import annotations

import asyncio

import pytest
from django.test import AsyncClient

from chat.models import Contact
from chat.realtime.hub import get_hub
from chat.services.contacts import contact_block
from tests.realtime.conftest import db, eventually

pytestmark = pytest.mark.django_db(transaction=True)


def headers_for(contact_inbox):
    return {"X-Widget-Token": contact_inbox.pubsub_token}


async def test_block_ends_a_waiting_long_poll(world, settings):
    settings.LONGPOLL_WAIT_SECONDS = 20
    client = AsyncClient()
    position = (await client.get("/api/widget/v1/events", headers=headers_for(world.visitor))).json()["last_event_id"]
    waiting = asyncio.ensure_future(
        client.get(f"/api/widget/v1/events?after={position}", headers=headers_for(world.visitor)))
    contact = await db(Contact.objects.get)(pk=world.visitor.contact_id)
    hub = get_hub()
    # The request is past authentication when it is subscribed to the stream.
    await eventually(lambda: len(hub) > 0 or waiting.done())
    assert not waiting.done()

    async def block_until_answered() -> None:
        # The close order is not stored: one sent before the request listens is not seen, so
        # block (idempotent; each call sends it) until the request answers.
        while not waiting.done():
            await db(contact_block)(contact=contact)
            await asyncio.wait([waiting], timeout=0.05)

    await asyncio.wait_for(block_until_answered(), 10)  # far less than the 20 s wait
    answered = await waiting
    assert answered.status_code == 200 and answered.json()["events"] == []  # ended, not refused
    refused = await client.get(f"/api/widget/v1/events?after={position}", headers=headers_for(world.visitor))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "contact_blocked"
