"""One origin normalizer and one "listed for this inbox" predicate (chat/services/origins.py),
and every transport agreeing with it: CORS of widget REST, long-poll, the widget socket, and
inbox validation."""
from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from chat.errors import InvalidData
from chat.services.inboxes import validate_origins
from chat.services.origins import normalize_origin, origin_listed
from tests.factories import ContactInboxFactory, InboxFactory
from tests.realtime.conftest import TIMEOUT, application, db, receive

LISTED = ["https://shop.example"]

# (as sent, normalized or None, allowed for an inbox listing https://shop.example)
TRICKY = [
    ("https://shop.example", "https://shop.example", True),
    ("https://shop.example/", "https://shop.example", True),
    ("HTTPS://Shop.Example", "https://shop.example", True),
    ("https://shop.example:443", "https://shop.example", True),
    ("  https://shop.example\t", "https://shop.example", True),
    ("https://shop.example:8443", "https://shop.example:8443", False),
    ("http://shop.example", "http://shop.example", False),
    ("http://shop.example:80/", "http://shop.example", False),
    ("https://shop.example/path", None, False),
    ("https://shop.example?x=1", None, False),
    ("https://user@shop.example", None, False),
    ("https://shop.example:99999", None, False),
    ("https://shop.example.evil.test", "https://shop.example.evil.test", False),
    ("null", None, False),
    ("file://", None, False),
    ("shop.example", None, False),
]
IDS = [repr(t[0]) for t in TRICKY]


@pytest.mark.parametrize("origin,normalized,allowed", TRICKY, ids=IDS)
def test_normalizer_and_predicate(origin, normalized, allowed):
    assert normalize_origin(origin) == normalized
    assert origin_listed(origin, LISTED) is allowed
    assert origin_listed(origin, ["HTTPS://SHOP.EXAMPLE:443/"]) is allowed  # entries normalize alike
    assert origin_listed(origin, []) is False
    assert origin_listed(origin, ["*"]) is (normalized is not None)


@pytest.mark.parametrize("origin,normalized,allowed", TRICKY, ids=IDS)
def test_inbox_validation_stores_the_normal_form(origin, normalized, allowed):
    if normalized is None:
        with pytest.raises(InvalidData):
            validate_origins([origin])
    else:
        assert validate_origins([origin]) == [normalized]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("origin,normalized,allowed", TRICKY, ids=IDS)
async def test_cors_long_poll_and_socket_agree(origin, normalized, allowed):
    """What CORS grants, long-poll admits and the widget socket accepts is the same set."""
    def setup():
        inbox = InboxFactory(allowed_origins=LISTED)
        return ContactInboxFactory(inbox=inbox)

    visitor = await db(setup)()

    def rest() -> str | None:
        client = APIClient()
        messages = client.get("/api/widget/v1/messages", HTTP_X_WIDGET_TOKEN=visitor.pubsub_token, HTTP_ORIGIN=origin)
        assert messages.status_code == 200
        return messages.get("Access-Control-Allow-Origin")

    granted = await db(rest)()
    assert granted == (normalized if allowed else None)

    from django.test import AsyncClient

    poll = await AsyncClient().get("/api/widget/v1/events", {"token": visitor.pubsub_token}, headers={"origin": origin})
    assert poll.status_code == (200 if allowed else 403)
    assert poll.get("Access-Control-Allow-Origin") == (normalized if allowed else None)

    comm = WebsocketCommunicator(application(), "/ws/widget/", headers=[(b"origin", origin.encode())])
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    await comm.send_to(text_data=json.dumps({"type": "auth", "ref": "a", "data": {"pubsub_token": visitor.pubsub_token}}))
    if allowed:
        assert (await receive(comm))["ok"] is True
        await comm.disconnect()
    else:
        message = await comm.receive_output(timeout=TIMEOUT)
        assert message == {"type": "websocket.close", "code": 4403}
