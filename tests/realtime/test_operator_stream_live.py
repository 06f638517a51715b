"""The operator stream on two real daphne processes (PostgreSQL + Redis): the stream on
process A, the changes through REST on process B; keep-alive, the server's close, resume by
``Last-Event-ID`` and revocation across processes."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chat.models import Event
from tests.factories import make_conversation
from tests.live import live_servers
from tests.realtime.conftest import db, token_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
]

KEEPALIVE = 0.3
MAX_SECONDS = 4.0


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker) -> Iterator[list[str]]:
    with live_servers(2, SSE_KEEPALIVE_SECONDS=str(KEEPALIVE), SSE_MAX_SECONDS=str(MAX_SECONDS)) as running:
        yield [server.url for server in running]


def blocks(raw: str) -> list[dict[str, Any]]:
    found = []
    for block in raw.split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if not line.startswith(":") and ": " in line:
                key, value = line.split(": ", 1)
                fields[key] = value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            found.append(fields)
    return found


def newest_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


async def test_live_stream_events_resume_keepalive_close_and_logout(servers, world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    key = await db(token_for)(world.op_a)
    headers = {"Authorization": f"Token {key}"}
    path = f"/api/messenger/conversations/{conversation.pk}/stream/"
    start = await db(newest_event_id)()
    async with httpx.AsyncClient(base_url=servers[0], timeout=10) as a, \
            httpx.AsyncClient(base_url=servers[1], timeout=10) as b:
        # Outside the scope: 404 on either process.
        other = await db(make_conversation)(contact_inbox=world.visitor_b)
        assert (await b.get(f"/api/messenger/conversations/{other.pk}/stream/", headers=headers)).status_code == 404

        # Live: a reply and a status change made on B reach the stream on A, then A ends it.
        opened = time.monotonic()
        async with a.stream("GET", path, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            raw = ""
            sent = False
            async for chunk in response.aiter_text():
                raw += chunk
                if not sent and raw.startswith("retry:"):
                    sent = True
                    reply = await b.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                                         json={"content": "live hello"}, headers=headers)
                    assert reply.status_code == 201, reply.text
                    status = await b.post(f"/api/v1/conversations/{conversation.pk}/toggle_status",
                                          json={"status": "pending"}, headers=headers)
                    assert status.status_code == 200, status.text
        lasted = time.monotonic() - opened
        assert MAX_SECONDS - 0.5 <= lasted <= MAX_SECONDS + 3, lasted  # the server closed it
        assert raw.count(": keep-alive") >= 2
        live = blocks(raw)
        names = [(b_["event"], b_["data"]["type"]) for b_ in live if "id" in b_]
        assert ("message.created", "message.created") in names
        assert ("conversation.updated", "conversation.status_changed") in names
        assert ("conversation.updated", "first_reply.created") in names

        # Resume on the other process from the start: exactly the ids missed, in order.
        expected = await db(lambda: list(
            Event.objects.filter(conversation_id=conversation.pk, id__gt=start).order_by("id")
            .values_list("id", flat=True)))()
        assert [int(b_["id"]) for b_ in live if "id" in b_] == expected
        raw = ""
        async with b.stream("GET", path, headers={**headers, "Last-Event-ID": str(start)}) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_text():
                raw += chunk
                if any(int(b_.get("id", 0)) >= expected[-1] for b_ in blocks(raw)):
                    break
        assert [int(b_["id"]) for b_ in blocks(raw) if "id" in b_] == expected

        # Logout through B ends a stream open on A within a second or so.
        async with a.stream("GET", path, headers=headers) as response:
            assert response.status_code == 200
            iterator = response.aiter_text()
            await iterator.__anext__()
            assert (await b.post("/api/v1/auth/logout", headers=headers)).status_code == 204
            ended = time.monotonic()

            async def rest() -> None:
                async for _chunk in iterator:
                    pass

            await asyncio.wait_for(rest(), 2.5)
            assert time.monotonic() - ended < 2.5
        assert (await a.get(path, headers=headers)).status_code == 401
