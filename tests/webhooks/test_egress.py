"""The egress guard (chat/webhooks_egress.py): with WEBHOOK_ALLOW_PRIVATE_NETWORKS off, private,
loopback, link-local and metadata destinations are refused after DNS; redirects are not followed."""
from __future__ import annotations

import ipaddress

import pytest
from django.db import transaction

from chat import webhooks_egress as egress
from chat.event_types import EventType
from chat.events import dispatch
from chat.models import DeliveryState, WebhookDelivery
from chat.services.webhooks import webhook_create, webhooks_tick
from tests.factories import InboxFactory


@pytest.fixture
def private_refused(settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "169.254.1.1", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "240.0.0.1", "::1", "fd00:ec2::254", "fe80::1", "::ffff:127.0.0.1", "fc00::1",
    "100.100.100.200",
])
def test_refused_addresses(address):
    assert egress.address_refused(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_pass(address):
    assert not egress.address_refused(ipaddress.ip_address(address))


def test_loopback_literal_is_refused_and_not_contacted(receiver, private_refused):
    outcome = egress.post(receiver.url, body=b"{}", headers={})
    assert not outcome.ok and outcome.status is None
    assert "127.0.0.1" in outcome.error and "WEBHOOK_ALLOW_PRIVATE_NETWORKS" in outcome.error
    assert receiver.hits == []


def test_a_name_resolving_to_a_private_address_is_refused(receiver, private_refused, monkeypatch):
    """The check is on what the name resolves to, not on how the URL looks."""
    monkeypatch.setattr(egress, "_getaddrinfo", lambda host, port: ["10.0.0.5"] if host == "crm.example" else [])
    outcome = egress.post("http://crm.example/hook", body=b"{}", headers={})
    assert outcome.status is None and "10.0.0.5" in outcome.error
    monkeypatch.setattr(egress, "_getaddrinfo", lambda host, port: ["93.184.216.34", "127.0.0.1"])
    assert "127.0.0.1" in egress.post("http://mixed.example/", body=b"{}", headers={}).error


def test_localhost_by_name_is_refused(receiver, private_refused):
    port = receiver.server.server_address[1]
    outcome = egress.post(f"http://localhost:{port}/", body=b"{}", headers={})
    assert outcome.status is None and "localhost" in outcome.error
    assert receiver.hits == []


def test_the_checked_address_is_the_one_connected_to(receiver, monkeypatch):
    """No second lookup: the request goes to the address that was checked, with the URL's host
    name in the Host header."""
    calls = []

    def resolve(host, port):
        calls.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(egress, "_getaddrinfo", resolve)
    port = receiver.server.server_address[1]
    outcome = egress.post(f"http://hooks.crm.example:{port}/in", body=b'{"a":1}', headers={"X-Test": "1"})
    assert outcome.ok, outcome
    assert calls == ["hooks.crm.example"]
    (hit,) = receiver.hits
    assert hit.headers["host"] == f"hooks.crm.example:{port}" and hit.body == b'{"a":1}'


def test_refused_destination_is_a_failed_attempt_not_a_crash(receiver, private_refused, transactional_db):
    webhook_create(url=receiver.url, subscriptions=["presence.updated"])
    with transaction.atomic():
        dispatch(EventType.PRESENCE_UPDATED, payload={"user_id": None, "status": "online"}, inbox_id=InboxFactory().id)
    assert webhooks_tick()["outcomes"] == {"retry": 1}
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and delivery.last_status is None
    assert "WEBHOOK_ALLOW_PRIVATE_NETWORKS" in delivery.last_error
    assert receiver.hits == []


def test_redirects_are_not_followed(receiver):
    receiver.statuses = [302]
    receiver.extra_headers = {"Location": receiver.url + "/elsewhere"}
    outcome = egress.post(receiver.url + "/start", body=b"{}", headers={})
    assert not outcome.ok and outcome.status == 302 and "not followed" in outcome.error
    assert [h.path for h in receiver.hits] == ["/start"]


def test_response_read_is_capped(receiver, settings):
    """An endless answer is read up to 64 KiB, not until the timeout: the receiver announces
    100 MB, sends 128 KiB and then stalls (until the test ends)."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 3.0
    import threading

    finished = threading.Event()

    def endless(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(100 * 1024 * 1024))
        handler.end_headers()
        handler.wfile.write(b"x" * 128 * 1024)
        handler.wfile.flush()
        finished.wait(10)

    receiver.respond = endless
    try:
        outcome = egress.post(receiver.url, body=b"{}", headers={})
    finally:
        finished.set()
    assert outcome.ok and outcome.error == "", outcome


def test_unreachable_port_is_an_error_outcome(settings):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = egress.post(f"http://127.0.0.1:{port}/", body=b"{}", headers={})
    assert outcome.status is None and outcome.error
