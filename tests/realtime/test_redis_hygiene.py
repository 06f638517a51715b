"""Everything the messenger writes to Redis is under its key space (SHARED_STORE_PREFIX, plus
the xdist worker in tests): the shared store, the cache (throttles, counters) and the channel
layer. So a test run can clear exactly what it wrote, and tests/conftest.py can check at the end
of the session that nothing is left without an expiry.

A live server on a private, empty Redis does a bit of everything; then every key in that Redis
must carry the prefix.
"""
from __future__ import annotations

import os

import httpx
import pytest

from tests.faults import PrivateRedis
from tests.live import operator, server_env, start_server, widget
from tests.realtime.conftest import db, token_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.live, pytest.mark.django_db(transaction=True)]


async def test_everything_written_to_redis_is_under_the_key_space(world):
    key_space = "hygiene" + os.environ.get("PYTEST_XDIST_WORKER", "")
    with PrivateRedis() as redis_server:
        server = start_server(env=server_env(REDIS_URL=redis_server.url, SHARED_STORE_PREFIX="hygiene"))
        try:
            op = await operator(server.url, world.op_a)
            visitor, _ = await widget(server.url, world.visitor)
            sent, _ = await visitor.command("message.create", {"content": "hi", "echo_id": "h1"}, ref="m")
            assert sent["ok"], sent
            conversation_id = sent["data"]["conversation_id"]
            for client, kind, data in [
                (visitor, "typing.start", {}),
                (visitor, "conversation.read", {}),
                (op, "typing.start", {"conversation_id": conversation_id}),
                (op, "conversation.read", {"conversation_id": conversation_id}),
                (op, "presence.set", {"status": "busy"}),
            ]:
                reply, _ = await client.command(kind, data, ref=kind)
                assert reply["ok"], reply
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                key = await db(token_for)(world.op_a)
                assert (await http.get("/api/v1/conversations/", headers={"Authorization": f"Token {key}"})).is_success
                response = await http.post("/api/widget/v1/sessions",
                                           json={"website_token": world.inbox_a.website_token})
                assert response.status_code == 201, response.text[:300]
            await op.close()
            await visitor.close()
        finally:
            server.stop()
        keys = redis_server.client().keys("*")
    assert keys, "the server wrote nothing: the test proves nothing"
    assert [k for k in keys if not k.startswith(f"{key_space}:")] == []
