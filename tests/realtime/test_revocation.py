"""Revocation through the ASGI application in this process (embedded and production layers):
the services send the control messages, the operator socket closes only for its own
credential. The same on two live processes: test_revocation_live.py."""
from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat.models import OperatorProfile, Role
from chat.realtime.codes import CloseCode
from chat.services.agents import agent_set_password, agent_update, operator_logout
from tests.factories import ContactInboxFactory, make_conversation
from tests.realtime.conftest import TIMEOUT, application, closed_with, command, db, joined_operator, token_for

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def session_socket(cookie: str) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(application(), "/ws/operator/",
                                 headers=[(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"http://localhost")])
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected and (await command(comm, "ping", ref="hello"))["ok"]
    return comm


async def test_logout_closes_the_sockets_of_that_credential_only(world):
    key = await db(token_for)(world.op_a)
    cookie = await db(session_cookie)(world.op_a)
    by_token = await joined_operator(world.op_a)
    by_session = await session_socket(cookie)
    other_session = await session_socket(await db(session_cookie)(world.op_a))
    await db(operator_logout)(user_id=world.op_a.pk, token_key=key)
    assert await closed_with(by_token) == CloseCode.UNAUTHORIZED
    assert (await command(by_session, "ping", ref="p1"))["ok"]
    await db(operator_logout)(user_id=world.op_a.pk, session_key=cookie)
    assert await closed_with(by_session) == CloseCode.UNAUTHORIZED
    assert (await command(other_session, "ping", ref="p2"))["ok"]
    await other_session.disconnect()


async def test_password_change_closes_every_socket_with_4401(world):
    by_token = await joined_operator(world.op_a)
    by_session = await session_socket(await db(session_cookie)(world.op_a))
    await db(agent_set_password)(user=world.op_a, password="a-new-pass-2026")
    assert await closed_with(by_token) == CloseCode.UNAUTHORIZED
    assert await closed_with(by_session) == CloseCode.UNAUTHORIZED


async def test_demotion_refuses_commands_outside_the_member_inboxes_at_once(world):
    await db(OperatorProfile.objects.update_or_create)(user=world.op_a, defaults={"role": Role.ADMINISTRATOR})
    elsewhere = await db(make_conversation)(contact_inbox=await db(ContactInboxFactory)(inbox=world.inbox_b))
    sock = await joined_operator(world.op_a)
    assert (await command(sock, "conversation.read", {"conversation_id": elsewhere.pk}, ref="before"))["ok"]
    await db(agent_update)(user=world.op_a, role=Role.AGENT)
    reply = await command(sock, "conversation.read", {"conversation_id": elsewhere.pk}, ref="after")
    assert reply["ok"] is False and reply["error"]["code"] == "not_found"
    await sock.disconnect()


def test_the_socket_rechecks_its_credential_after_joining(world):
    """What a socket asks once its groups are joined (a revocation committed just before the
    join sent its control message to nobody)."""
    from django.contrib.sessions.backends.db import SessionStore
    from rest_framework.authtoken.models import Token

    from chat.realtime.access import operator_credential_valid

    key = token_for(world.op_a)
    cookie = session_cookie(world.op_a)
    assert operator_credential_valid(kind="token", key=key, user_id=world.op_a.pk)
    assert operator_credential_valid(kind="session", key=cookie, user_id=world.op_a.pk)
    assert not operator_credential_valid(kind="token", key=key, user_id=world.op_b.pk)
    Token.objects.filter(key=key).delete()
    assert not operator_credential_valid(kind="token", key=key, user_id=world.op_a.pk)
    agent_set_password(user=world.op_a, password="a-new-pass-2026")  # sessions stop authenticating
    assert not operator_credential_valid(kind="session", key=cookie, user_id=world.op_a.pk)
    other = session_cookie(world.op_b)
    SessionStore(session_key=other).delete()  # logged out
    assert not operator_credential_valid(kind="session", key=other, user_id=world.op_b.pk)
