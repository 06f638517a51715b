"""Input hygiene at the edges (docs/architecture.md "Input hygiene"): what used to give a 500,
``internal_error`` or 1011 answers 400 ``invalid_data`` (REST, the JSON error shape) or
``ok: false`` ``invalid_data`` (sockets), and the socket stays open."""
from __future__ import annotations

import json

import httpx
import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient
from rest_framework.test import APIClient

from chat.models import Contact, Conversation, Message
from chat.realtime.codes import CloseCode
from tests.api.conftest import assert_error, token_client
from tests.factories import (
    ContactInboxFactory,
    InboxFactory,
    InboxMemberFactory,
    UserFactory,
    make_conversation,
)
from tests.live import live_servers, ws_url
from tests.realtime.conftest import (
    ORIGIN,
    TIMEOUT,
    application,
    closed_with,
    command,
    joined_operator,
    widget_socket,
)

IMPOSSIBLE = "2026-13-45T99:99:99Z"
DEEP = b"[" * 50_000 + b"]" * 50_000


@pytest.fixture
def desk(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    inbox = InboxFactory(enable_auto_assignment=False)
    operator = UserFactory()
    InboxMemberFactory(inbox=inbox, user=operator)
    visitor = ContactInboxFactory(inbox=inbox)
    conversation = make_conversation(contact_inbox=visitor)
    return type("Desk", (), {"inbox": inbox, "operator": operator, "visitor": visitor, "conversation": conversation,
                             "client": token_client(operator)})


# --- REST ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/conversations/", "/api/v1/contacts/"])
@pytest.mark.parametrize("q", ["a\x00b", "x" * 1000, "\x1b[2J"])
def test_search_query_with_control_characters_or_too_long_is_invalid(desk, path, q):
    assert_error(desk.client.get(path, {"q": q}), 400, "invalid_data")


def test_search_query_of_ordinary_text_still_works(desk):
    assert desk.client.get("/api/v1/conversations/", {"q": "  visitor  "}).status_code == 200
    assert desk.client.get("/api/v1/contacts/", {"q": "visitor"}).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/widget/v1/sessions"])
def test_json_nested_50k_deep_is_invalid_data(path):
    response = APIClient().generic("POST", path, DEEP, content_type="application/json")
    assert_error(response, 400, "invalid_data")


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/widget/v1/sessions"])
@pytest.mark.parametrize("body", [b'{"username": "\xff\xfe"}', b'{"website_token": "\\ud800"}', b'{"a": NaN}',
                                  b'{"a": 18446744073709551616}', b'{"a": "x\\u0000"}'])
def test_bodies_that_are_not_clean_json_are_invalid_data(db, path, body):
    response = APIClient().generic("POST", path, body, content_type="application/json")
    assert_error(response, 400, "invalid_data")


def test_custom_attributes_with_nul_are_invalid_on_contact_patch_and_widget_session(desk):
    contact_id = desk.visitor.contact_id
    response = desk.client.patch(f"/api/v1/contacts/{contact_id}/", {"custom_attributes": {"plan": "a\u0000"}},
                                 format="json")
    assert_error(response, 400, "invalid_data")
    response = APIClient().post("/api/widget/v1/sessions", {"website_token": desk.inbox.website_token,
                                                            "custom_attributes": {"k\u0000": "v"}}, format="json")
    assert_error(response, 400, "invalid_data")
    assert Contact.objects.get(pk=contact_id).custom_attributes == {}


def test_impossible_snooze_time_is_invalid_data(desk):
    url = f"/api/v1/conversations/{desk.conversation.pk}/"
    assert_error(desk.client.patch(url, {"status": "snoozed", "snoozed_until": IMPOSSIBLE}, format="json"),
                 400, "invalid_data")
    assert_error(desk.client.post(url + "toggle_status", {"status": "snoozed", "snoozed_until": IMPOSSIBLE},
                                  format="json"), 400, "invalid_data")
    assert Conversation.objects.get(pk=desk.conversation.pk).status == "open"


@pytest.mark.parametrize("token", ["a\x00b", "t" * 300, "tab\tinside"])
def test_widget_token_with_control_characters_is_invalid_data(desk, token):
    client = APIClient()
    assert_error(client.get("/api/widget/v1/messages", HTTP_X_WIDGET_TOKEN=token), 400, "invalid_data")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/api/widget/v1/stream", "/api/widget/v1/events"])
async def test_sse_and_long_poll_token_with_nul_is_invalid_data(path):
    response = await AsyncClient().get(path, {"token": "abc\x00def"})
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["code"] == "invalid_data"


def test_message_content_keeps_tabs_and_line_breaks_and_refuses_nul(desk):
    url = f"/api/v1/conversations/{desk.conversation.pk}/messages/"
    assert desk.client.post(url, {"content": "line 1\n\tline 2\r\n"}, format="json").status_code == 201
    assert_error(desk.client.post(url, {"content": "a\x00b"}, format="json"), 400, "invalid_data")
    assert_error(desk.client.post(url, {"content": "ok", "echo_id": "e\x00"}, format="json"), 400, "invalid_data")
    assert Message.objects.filter(conversation=desk.conversation, direction="outgoing").count() == 1


# --- Sockets ------------------------------------------------------------------------------------


@pytest.fixture
def live_desk(transactional_db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    inbox = InboxFactory(enable_auto_assignment=False)
    operator = UserFactory()
    InboxMemberFactory(inbox=inbox, user=operator)
    visitor = ContactInboxFactory(inbox=inbox)
    return type("Desk", (), {"inbox": inbox, "operator": operator, "visitor": visitor,
                             "conversation": make_conversation(contact_inbox=visitor)})


@pytest.mark.parametrize("data", [
    {"content": "a\x00b"}, {"content": "ok", "echo_id": "e\x00"}, {"content": "\x07bell"},
    {"content": "ok", "echo_id": 2**63},
])
async def test_widget_socket_refuses_control_characters_and_stays_open(live_desk, data):
    comm, _ = await widget_socket(live_desk.visitor)
    reply = await command(comm, "message.create", data, ref="m")
    assert reply["ok"] is False and reply["error"]["code"] == "invalid_data", reply
    assert (await command(comm, "message.create", {"content": "fine\n\tstill"}, ref="ok"))["ok"]
    await comm.disconnect()


async def test_widget_auth_with_nul_token_closes_4401(live_desk):
    comm = WebsocketCommunicator(application(), "/ws/widget/", headers=[(b"origin", ORIGIN.encode())])
    assert (await comm.connect(timeout=TIMEOUT))[0]
    await comm.send_to(text_data=json.dumps({"type": "auth", "data": {"pubsub_token": "x\x00y"}}))
    assert await closed_with(comm) == CloseCode.UNAUTHORIZED


async def test_operator_socket_impossible_snooze_time_and_nul_are_invalid_data(live_desk):
    op = await joined_operator(live_desk.operator)
    cid = live_desk.conversation.pk
    reply = await command(op, "conversation.status", {"conversation_id": cid, "status": "snoozed",
                                                      "snoozed_until": IMPOSSIBLE}, ref="s")
    assert reply["error"]["code"] == "invalid_data", reply
    reply = await command(op, "message.create", {"conversation_id": cid, "content": "a\x00", "echo_id": "x"}, ref="m")
    assert reply["error"]["code"] == "invalid_data", reply
    assert (await command(op, "ping", ref="alive"))["ok"]
    await op.disconnect()


async def test_unknown_ws_path_is_refused_in_process(live_desk):
    comm = WebsocketCommunicator(application(), "/ws/nothing-here/")
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected is False


@pytest.mark.live
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_live_unknown_ws_path_is_403_and_oversized_frame_closes_4413_without_traceback():
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    with live_servers(1, WS_MAX_FRAME_BYTES="4096") as (server,):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(server.url, "/ws/nothing-here/")):
                pass
        assert refused.value.response.status_code in (403, 404)
        async with connect(ws_url(server.url, "/ws/widget/"), origin=ORIGIN) as ws:
            await ws.send("x" * 5000)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd.code == CloseCode.MESSAGE_TOO_BIG
        async with httpx.AsyncClient() as http:
            assert (await http.get(server.url + "/api/widget/v1/messages")).status_code == 401  # still serving
        log = server.log_text()
    assert "Traceback" not in log, log[-3000:]


def test_too_many_query_parameters_or_form_fields_is_invalid_data(desk):
    many = "&".join(f"p{i}=1" for i in range(1500))
    assert_error(desk.client.get("/api/v1/conversations/?" + many), 400, "invalid_data")
    assert_error(APIClient().post("/api/widget/v1/sessions", many, content_type="application/x-www-form-urlencoded"),
                 400, "invalid_data")


def test_json_body_over_the_upload_limit_is_invalid_data(db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = b'{"website_token": "' + b"x" * 2000 + b'"}'
    assert_error(APIClient().generic("POST", "/api/widget/v1/sessions", body, content_type="application/json"),
                 400, "invalid_data")
