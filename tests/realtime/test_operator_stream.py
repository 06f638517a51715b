"""The seed's operator stream, ``GET /api/messenger/conversations/{id}/stream/`` (DESIGN.md §12),
through the real ASGI application: scope, event names, typing, resume, keep-alive, end, revocation,
the per-operator cap."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.db import transaction
from django.test import AsyncClient
from django.test import Client as DjangoClient

from assignment.services import assign_conversation
from chat.event_types import EventType
from chat.events import dispatch
from chat.models import Event
from chat.realtime.scopes import OperatorScope
from chat.services.agents import agent_deactivate, operator_logout
from chat.services.conversations import conversation_set_status
from chat.services.inboxes import inbox_member_remove
from chat.services.messages import message_create
from chat.services.typing import typing_set
from tests.factories import make_conversation
from tests.payloads import message_stub
from tests.realtime.conftest import db, token_for

pytestmark = pytest.mark.django_db(transaction=True)

OUR_ORIGIN = "http://testserver"


def path(conversation_id: int) -> str:
    return f"/api/messenger/conversations/{conversation_id}/stream/"


def parse(raw: bytes) -> list[dict[str, Any]]:
    """SSE blocks as {"id"?, "event", "data"} (comments dropped)."""
    blocks = []
    for block in raw.decode().split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if line.startswith(":") or ": " not in line:
                continue
            key, value = line.split(": ", 1)
            fields[key] = value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            blocks.append(fields)
    return blocks


def auth(user) -> dict[str, str]:
    return {"Authorization": f"Token {token_for(user)}"}


async def open_stream(user, conversation_id: int, **headers: str):
    token_headers = await db(auth)(user)
    response = await AsyncClient().get(path(conversation_id), headers={**token_headers, **headers})
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/event-stream"
    return response, response.streaming_content.__aiter__()


async def read_until(iterator, predicate, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Blocks until ``predicate(blocks)``; fails on timeout or if the server ends first."""
    raw = b""

    async def pump() -> list[dict[str, Any]]:
        nonlocal raw
        while True:
            raw += await iterator.__anext__()
            blocks = parse(raw)
            if predicate(blocks):
                return blocks

    return await asyncio.wait_for(pump(), timeout)


async def drain(iterator, timeout: float = 10.0) -> bytes:
    """Everything until the server ends the response."""
    async def pump() -> bytes:
        return b"".join([chunk async for chunk in iterator])

    return await asyncio.wait_for(pump(), timeout)


def personal(conversation, user_id: int) -> int:
    with transaction.atomic():
        return dispatch(EventType.MESSAGE_UPDATED, payload=message_stub("personal"), inbox_id=conversation.inbox_id,
                        conversation_id=conversation.pk, user_id=user_id).id


# --- Scope and auth ---------------------------------------------------------------------------


async def test_scope_and_credentials(world):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    other = await db(make_conversation)(contact_inbox=world.visitor_b)
    client = AsyncClient()
    anonymous = await client.get(path(conversation.pk))
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
    assert (await client.get(path(conversation.pk), headers={"Authorization": "Token forged"})).status_code == 401
    assert (await client.get(path(conversation.pk), headers={"Authorization": "Basic eDp5"})).status_code == 401
    headers = await db(auth)(world.op_a)
    for unseen in (other.pk, 999_999_999):  # another inbox's, and one that does not exist: the same 404
        response = await client.get(path(unseen), headers=headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    bad = await client.get(path(conversation.pk) + "?last_event_id=x", headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_data"
    # The administrator sees every inbox.
    admin_headers = await db(auth)(world.admin)
    response = await client.get(path(other.pk), headers=admin_headers)
    assert response.status_code == 200
    await response.streaming_content.__aiter__().aclose()


async def test_session_auth_checks_a_present_origin(world, settings):
    settings.SSE_MAX_SECONDS = 0.1
    conversation = await db(make_conversation)(contact_inbox=world.visitor)

    def session_cookie() -> str:
        client = DjangoClient()
        client.force_login(world.op_a)
        return client.cookies["sessionid"].value

    cookie = await db(session_cookie)()
    client = AsyncClient()
    client.cookies["sessionid"] = cookie
    foreign = await client.get(path(conversation.pk), headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "permission_denied"
    for headers in ({"Origin": OUR_ORIGIN}, {}):  # ours, or none (a same-origin EventSource GET)
        response = await client.get(path(conversation.pk), headers=headers)
        assert response.status_code == 200
        await drain(response.streaming_content)


# --- What it carries ----------------------------------------------------------------------------


async def test_conversation_events_named_with_state_changes_as_conversation_updated(world, settings):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    neighbour = await db(make_conversation)(contact_inbox=world.visitor)
    start = await db(lambda: Event.objects.order_by("-id").values_list("id", flat=True).first())()
    _response, stream = await open_stream(world.op_a, conversation.pk)
    await stream.__anext__()  # retry: the subscription is in place
    await db(message_create)(conversation_id=neighbour.pk, direction="outgoing", content="elsewhere",
                             sender_user=world.op_a)
    await db(personal)(conversation, world.op_b.pk)  # someone else's personal event
    await db(message_create)(conversation_id=conversation.pk, direction="outgoing", content="hello",
                             sender_user=world.op_a)
    await db(message_create)(conversation_id=conversation.pk, direction="outgoing", content="note",
                             private=True, sender_user=world.op_a)
    await db(assign_conversation)(conversation_id=conversation.pk, assignee_id=world.op_a.pk, actor=world.op_a)
    await db(conversation_set_status)(conversation_id=conversation.pk, status="resolved", actor_user=world.op_a)
    # Written independently of the rule: this conversation's events, minus op_b's personal one.
    expected = await db(lambda: list(
        Event.objects.filter(conversation_id=conversation.pk, id__gt=start).exclude(user_id=world.op_b.pk)
        .order_by("id").values_list("id", "type")
    ))()
    last = expected[-1][0]
    blocks = await read_until(stream, lambda b: any(int(x.get("id", 0)) >= last for x in b))
    durable = [b for b in blocks if "id" in b]
    assert [(int(b["id"]), b["data"]["type"]) for b in durable] == expected
    assert all(b["data"]["conversation_id"] == conversation.pk for b in durable)
    for block in durable:
        kind = block["data"]["type"]
        assert int(block["id"]) == block["data"]["id"]
        if kind.startswith("message."):
            assert block["event"] == kind
        else:
            assert block["event"] == "conversation.updated"
    kinds = [b["data"]["type"] for b in durable]
    assert {"message.created", "first_reply.created", "assignee.changed", "conversation.status_changed"} <= set(kinds)
    notes = [b for b in durable if b["data"]["type"] == "message.created" and b["data"]["data"]["private"]]
    assert notes, "private notes reach operators"
    await stream.aclose()


async def test_typing_frames_of_this_conversation_without_id(world, settings):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    neighbour = await db(make_conversation)(contact_inbox=world.visitor)
    _response, stream = await open_stream(world.op_a, conversation.pk)
    await stream.__anext__()
    done = asyncio.Event()

    async def typing_until_seen() -> None:
        # The listener joins the inbox group as the response starts; repeat until a frame is seen.
        while not done.is_set():
            await db(typing_set)(conversation_id=neighbour.pk, typing=True, side="contact")
            await db(typing_set)(conversation_id=conversation.pk, typing=True, side="contact")
            await db(typing_set)(conversation_id=conversation.pk, typing=False, side="contact")
            try:
                await asyncio.wait_for(done.wait(), 0.05)
            except TimeoutError:
                pass

    typer = asyncio.ensure_future(typing_until_seen())
    try:
        blocks = await read_until(stream, lambda b: any(x["event"] == "conversation.typing_stopped" for x in b))
    finally:
        done.set()
        await typer
    typing = [b for b in blocks if b["event"].startswith("conversation.typing_")]
    assert typing and all("id" not in b for b in typing)
    assert all(b["data"]["conversation_id"] == conversation.pk and "id" not in b["data"] for b in typing)
    assert {b["event"] for b in typing} == {"conversation.typing_started", "conversation.typing_stopped"}
    assert all(b["data"]["type"] == b["event"] for b in typing)
    await stream.aclose()


async def test_last_event_id_resumes_exactly_the_missing_events(world, settings):
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    neighbour = await db(make_conversation)(contact_inbox=world.visitor)
    start = await db(lambda: Event.objects.order_by("-id").values_list("id", flat=True).first())()
    for i in range(3):
        await db(message_create)(conversation_id=conversation.pk, direction="outgoing", content=f"m{i}",
                                 sender_user=world.op_a)
        await db(message_create)(conversation_id=neighbour.pk, direction="outgoing", content=f"n{i}",
                                 sender_user=world.op_a)
    await db(personal)(conversation, world.op_b.pk)
    await db(conversation_set_status)(conversation_id=conversation.pk, status="pending", actor_user=world.op_a)
    missing = await db(lambda: list(
        OperatorScope(world.op_a.pk, frozenset({world.inbox_a.pk}), conversation_id=conversation.pk)
        .visible(Event.objects.filter(id__gt=start)).order_by("id").values_list("id", flat=True)
    ))()
    assert len(missing) >= 5
    for headers in ({"Last-Event-ID": str(start)}, {}):
        suffix = "" if headers else f"?last_event_id={start}"
        token_headers = await db(auth)(world.op_a)
        response = await AsyncClient().get(path(conversation.pk) + suffix, headers={**token_headers, **headers})
        assert response.status_code == 200
        stream = response.streaming_content.__aiter__()
        blocks = await read_until(stream, lambda b: any(int(x.get("id", 0)) >= missing[-1] for x in b))
        assert [int(b["id"]) for b in blocks if "id" in b] == missing
        await stream.aclose()


async def test_resync_required_when_too_much_was_missed(world, settings):
    settings.STREAM_RESUME_MAX_EVENTS = 1
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    start = await db(lambda: Event.objects.order_by("-id").values_list("id", flat=True).first())()
    for i in range(2):
        await db(message_create)(conversation_id=conversation.pk, direction="outgoing", content=f"m{i}",
                                 sender_user=world.op_a)
    token_headers = await db(auth)(world.op_a)
    response = await AsyncClient().get(path(conversation.pk), headers={**token_headers, "Last-Event-ID": str(start)})
    assert response.status_code == 409 and response.json()["error"]["code"] == "resync_required"


async def test_keep_alive_then_the_server_ends_the_stream(world, settings):
    settings.SSE_KEEPALIVE_SECONDS = 0.05
    settings.SSE_MAX_SECONDS = 0.3
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    _response, stream = await open_stream(world.op_a, conversation.pk)
    raw = await drain(stream, timeout=5)  # returns only because the server ends it
    assert raw.startswith(b"retry: ") and b": keep-alive\n\n" in raw


# --- Revocation and the cap ---------------------------------------------------------------------


async def _ends(stream) -> None:
    await drain(stream, timeout=5)


@pytest.mark.parametrize("revoke", ["logout", "deactivate", "removed_from_inbox"])
async def test_revocation_ends_the_stream(world, settings, revoke):
    settings.SSE_MAX_SECONDS = 30
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    key = await db(token_for)(world.op_a)
    response = await AsyncClient().get(path(conversation.pk), headers={"Authorization": f"Token {key}"})
    assert response.status_code == 200
    stream = response.streaming_content.__aiter__()
    await stream.__anext__()
    if revoke == "logout":
        await db(operator_logout)(user_id=world.op_a.pk, token_key=key)
    elif revoke == "deactivate":
        await db(agent_deactivate)(user=world.op_a)
    else:
        await db(inbox_member_remove)(inbox=world.inbox_a, user_id=world.op_a.pk)
    await _ends(stream)  # well before SSE_MAX_SECONDS
    if revoke == "removed_from_inbox":
        again = await AsyncClient().get(path(conversation.pk), headers={"Authorization": f"Token {key}"})
        assert again.status_code == 404


async def test_streams_count_against_the_operator_connection_cap(world, settings):
    settings.WS_MAX_SOCKETS_PER_OPERATOR = 1
    settings.SSE_MAX_SECONDS = 0.3
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    _response, stream = await open_stream(world.op_a, conversation.pk)
    await stream.__anext__()
    token_headers = await db(auth)(world.op_a)
    second = await AsyncClient().get(path(conversation.pk), headers=token_headers)
    assert second.status_code == 429 and second.json()["error"]["code"] == "rate_limited"
    await drain(stream)  # the server ends it and gives the lease back
    third = await AsyncClient().get(path(conversation.pk), headers=token_headers)
    assert third.status_code == 200
    await drain(third.streaming_content)
