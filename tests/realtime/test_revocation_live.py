"""Revocation reaches live sockets and streams within a second, on every process (issue 9).

Two real daphne processes share PostgreSQL and Redis: the socket lives on process A, the
revoking REST call goes to process B (or the service runs in this test process). Each test
asserts the close code (or the end of the stream) within REVOKED_WITHIN seconds.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.test import Client as DjangoClient
from websockets.asyncio.client import connect as ws_connect

from chat.models import Role
from chat.services.agents import operator_logout
from chat.services.messages import message_create
from tests.factories import InboxMemberFactory, UserFactory, make_conversation
from tests.live import Client, close_code, live_servers, operator, widget, ws_url
from tests.realtime.conftest import db, token_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
]

# "Within a second", plus the scheduling slack of a loaded CI machine.
REVOKED_WITHIN = 1.5
CSRF = "a" * 32  # an unmasked CSRF secret: the cookie and the header agree


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker) -> Iterator[list[str]]:
    with live_servers(2) as running:
        yield [server.url for server in running]


def session_key_for(user: Any) -> str:
    client = DjangoClient()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def session_socket(base: str, session_key: str) -> Client:
    ws = await ws_connect(ws_url(base, "/ws/operator/"), origin=base,
                          additional_headers={"Cookie": f"sessionid={session_key}"})
    client = Client(ws)
    reply, _ = await client.command("ping", ref="hello")
    assert reply["ok"]
    return client


async def still_open(client: Client) -> bool:
    reply, _ = await client.command("ping", ref=f"alive-{time.monotonic()}")
    return bool(reply["ok"])


def token_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Token {key}"}


async def closed_within(client: Client, seconds: float = REVOKED_WITHIN) -> int:
    started = time.monotonic()
    code = await close_code(client, timeout=seconds)
    assert time.monotonic() - started <= seconds + 0.1
    return code


# --- Logout ------------------------------------------------------------------------------------


async def test_token_logout_closes_that_tokens_sockets_only(servers, world):
    key = await db(token_for)(world.op_a)
    session = await db(session_key_for)(world.op_a)
    by_token = await operator(servers[0], world.op_a)
    by_session = await session_socket(servers[0], session)
    async with httpx.AsyncClient(base_url=servers[1]) as http:
        assert (await http.post("/api/v1/auth/logout", headers=token_headers(key))).status_code == 204
        assert await closed_within(by_token) == 4401
        assert await still_open(by_session)  # another credential of the same operator
        assert (await http.get("/api/v1/profile", headers=token_headers(key))).status_code == 401
    await by_session.close()


async def test_session_logout_closes_that_sessions_sockets_only(servers, world):
    first = await db(session_key_for)(world.op_a)
    second = await db(session_key_for)(world.op_a)
    on_first = await session_socket(servers[0], first)
    on_second = await session_socket(servers[0], second)
    by_token = await operator(servers[0], world.op_a)
    async with httpx.AsyncClient(base_url=servers[1], cookies={"sessionid": first, "csrftoken": CSRF}) as http:
        response = await http.post("/api/v1/auth/logout", headers={"X-CSRFToken": CSRF})
        assert response.status_code == 204, response.text
    assert await closed_within(on_first) == 4401
    assert await still_open(on_second) and await still_open(by_token)
    await on_second.close()
    await by_token.close()


async def test_logout_service_from_another_process_closes_the_socket(servers, world):
    session = await db(session_key_for)(world.op_a)
    sock = await session_socket(servers[0], session)
    await db(operator_logout)(user_id=world.op_a.pk, session_key=session)  # this test process
    assert await closed_within(sock) == 4401


# --- Password change, deactivation ---------------------------------------------------------------


async def test_password_change_revokes_every_token_session_and_socket(servers, world):
    key = await db(token_for)(world.op_a)
    admin_key = await db(token_for)(world.admin)
    session = await db(session_key_for)(world.op_a)
    by_token = await operator(servers[0], world.op_a)
    by_session = await session_socket(servers[0], session)
    async with httpx.AsyncClient(base_url=servers[1]) as http:
        response = await http.patch(f"/api/v1/agents/{world.op_a.pk}/", json={"password": "a-new-pass-2026"},
                                    headers=token_headers(admin_key))
        assert response.status_code == 200, response.text
        assert await closed_within(by_token) == 4401
        assert await closed_within(by_session) == 4401
        assert (await http.get("/api/v1/profile", headers=token_headers(key))).status_code == 401
    async with httpx.AsyncClient(base_url=servers[1], cookies={"sessionid": session}) as http:
        assert (await http.get("/api/v1/profile")).status_code in (401, 403)
    # The old token cannot open a socket either.
    ws = await ws_connect(ws_url(servers[1], "/ws/operator/"), additional_headers=token_headers(key))
    assert await close_code(Client(ws)) == 4401


async def test_deactivation_closes_the_socket_with_4403(servers, world):
    admin_key = await db(token_for)(world.admin)
    sock = await operator(servers[0], world.op_a)
    async with httpx.AsyncClient(base_url=servers[1]) as http:
        assert (await http.delete(f"/api/v1/agents/{world.op_a.pk}/", headers=token_headers(admin_key))).status_code == 204
    assert await closed_within(sock) == 4403


# --- Demotion, removal: the socket is re-scoped ---------------------------------------------------


def note(conversation: Any, user: Any, text: str) -> int:
    return message_create(conversation_id=conversation.pk, direction="outgoing", content=text, private=True,
                          sender_user=user).message.pk


async def rescoped_within(client: Client, *, kept: tuple[Any, Any], lost: tuple[Any, Any],
                          seconds: float = REVOKED_WITHIN) -> None:
    """Until the deadline: a note in the ``lost`` conversation, then one in the ``kept``
    conversation; once the kept one arrives without the lost one before it, the socket's stream
    no longer carries the lost inbox (events are fanned out in id order)."""
    deadline = time.monotonic() + seconds
    while True:
        lost_id = await db(note)(*lost, "should not arrive")
        kept_id = await db(note)(*kept, "should arrive")
        frame, before = await client.until(
            lambda f, kept_id=kept_id: f.get("type") == "message.created" and f["data"]["id"] == kept_id)
        if lost_id not in {f["data"]["id"] for f in before if f.get("type") == "message.created"}:
            return
        assert time.monotonic() < deadline, "the socket still receives the inbox it lost"


async def test_demoted_administrator_loses_the_admin_view_at_once(servers, world):
    boss = await db(UserFactory)(profile=Role.ADMINISTRATOR)
    await db(InboxMemberFactory)(inbox=world.inbox_a, user=boss)
    conv_a = await db(make_conversation)(contact_inbox=world.visitor)
    conv_b = await db(make_conversation)(contact_inbox=world.visitor_b)
    boss_key = await db(token_for)(boss)
    admin_key = await db(token_for)(world.admin)
    sock = await operator(servers[0], boss)
    reply, earlier = await sock.command("conversation.status", {"conversation_id": conv_b.pk, "status": "pending"},
                                        ref="before")
    assert reply["ok"], reply  # an administrator acts on any inbox
    # The event may arrive before the command's reply (the hub delivers at commit).
    if not any(f.get("type") == "conversation.status_changed" for f in earlier):
        await sock.until(lambda f: f.get("type") == "conversation.status_changed")
    b_note = await db(note)(conv_b, world.op_b, "in B")
    frame, _ = await sock.until(lambda f: f.get("type") == "message.created")
    assert frame["data"]["id"] == b_note  # the admin view: inbox B's events arrive

    async with httpx.AsyncClient(base_url=servers[1]) as http:
        response = await http.patch(f"/api/v1/agents/{boss.pk}/", json={"role": "agent"}, headers=token_headers(admin_key))
        assert response.status_code == 200 and response.json()["role"] == "agent"
        # REST, at once: no admin view, no acting on a non-member inbox.
        assert (await http.get(f"/api/v1/conversations/{conv_b.pk}/", headers=token_headers(boss_key))).status_code == 404
        response = await http.post(f"/api/v1/conversations/{conv_b.pk}/toggle_status", json={},
                                   headers=token_headers(boss_key))
        assert response.status_code == 404
        response = await http.post(f"/api/v1/conversations/{conv_b.pk}/messages/", json={"content": "x"},
                                   headers=token_headers(boss_key))
        assert response.status_code == 404
        assert (await http.get("/api/v1/inboxes/", headers=token_headers(boss_key))).status_code == 403
        listed = (await http.get("/api/v1/conversations/?status=all", headers=token_headers(boss_key))).json()
        assert {row["inbox"] for row in listed["results"]} <= {world.inbox_a.pk}
    # The socket, at once for commands; its stream re-scoped within the second.
    for kind, data in [("conversation.status", {"conversation_id": conv_b.pk, "status": "open"}),
                       ("message.create", {"conversation_id": conv_b.pk, "content": "x"})]:
        reply, _ = await sock.command(kind, data, ref=f"after-{kind}")
        assert reply["ok"] is False and reply["error"]["code"] == "not_found", reply
    await rescoped_within(sock, kept=(conv_a, world.op_a), lost=(conv_b, world.op_b))
    reply, _ = await sock.command("message.create", {"conversation_id": conv_a.pk, "content": "still mine"}, ref="a")
    assert reply["ok"], reply
    await sock.close()


async def test_removed_member_socket_is_rescoped(servers, world):
    conv_a = await db(make_conversation)(contact_inbox=world.visitor)
    admin_key = await db(token_for)(world.admin)
    await db(InboxMemberFactory)(inbox=world.inbox_b, user=world.op_a)
    conv_b = await db(make_conversation)(contact_inbox=world.visitor_b)
    sock = await operator(servers[0], world.op_a)
    async with httpx.AsyncClient(base_url=servers[1]) as http:
        response = await http.delete(f"/api/v1/inboxes/{world.inbox_b.pk}/members/{world.op_a.pk}/",
                                     headers=token_headers(admin_key))
        assert response.status_code == 204
    reply, _ = await sock.command("conversation.read", {"conversation_id": conv_b.pk}, ref="read")
    assert reply["error"]["code"] == "not_found"
    await rescoped_within(sock, kept=(conv_a, world.op_a), lost=(conv_b, world.op_b))
    await sock.close()


# --- Contact block: sockets and streams end --------------------------------------------------------


async def test_block_closes_the_widget_socket_and_ends_its_streams(servers, world):
    contact_inbox = world.visitor
    key = await db(token_for)(world.op_a)
    visitor, _ = await widget(servers[0], contact_inbox)
    query = f"token={contact_inbox.pubsub_token}"
    async with httpx.AsyncClient(base_url=servers[0], timeout=30) as stream_http:
        async with stream_http.stream("GET", f"/api/widget/v1/stream?{query}") as sse:
            assert sse.status_code == 200
            lines = sse.aiter_lines()
            assert (await anext(lines)).startswith("retry:")  # the stream is open
            async with httpx.AsyncClient(base_url=servers[1]) as http:
                response = await http.post(f"/api/v1/contacts/{contact_inbox.contact_id}/block",
                                           headers=token_headers(key))
                assert response.status_code == 200 and response.json()["blocked"] is True
            started = time.monotonic()
            assert await closed_within(visitor) == 4403

            async def drain() -> None:
                async for _line in lines:
                    pass

            await asyncio.wait_for(drain(), REVOKED_WITHIN)  # the SSE response ended
            assert time.monotonic() - started <= 2 * REVOKED_WITHIN
        # Its next stream or long-poll is refused.
        assert (await stream_http.get(f"/api/widget/v1/events?{query}")).status_code == 403
    # A reconnect is refused.
    ws = await ws_connect(ws_url(servers[1], "/ws/widget/"))
    await ws.send(json.dumps({"type": "auth", "ref": "auth", "data": {"pubsub_token": contact_inbox.pubsub_token}}))
    assert await close_code(Client(ws)) == 4403
