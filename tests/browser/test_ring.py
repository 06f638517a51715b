"""Ring mode in Chromium: the offer toast with its countdown, in every tab of the operator,
after a reload mid-ring, gone everywhere on accept, decline and timeout; on a phone too."""
from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_messenger import WAIT

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture(scope="module")
def ring_inbox(admin_api: httpx.Client, demo_inbox: dict) -> dict:
    """An inbox that rings the demo agent alone (its only member)."""
    response = admin_api.post("/api/v1/inboxes/", json={
        "name": f"Ring {uuid.uuid4().hex[:6]}", "branch": demo_inbox.get("branch"), "channel_type": "web_widget",
        "enable_auto_assignment": True, "assignment_mode": "ring", "ring_timeout_seconds": 60,
        "assignment_rate_limit": 1000,
    })
    response.raise_for_status()
    inbox = response.json()
    agents = admin_api.get("/api/v1/agents/").json()
    rows = agents["results"] if isinstance(agents, dict) else agents
    agent_id = next(a["id"] for a in rows if a.get("username") == "agent")
    admin_api.post(f"/api/v1/inboxes/{inbox['id']}/members/", json={"user_ids": [agent_id]}).raise_for_status()
    return inbox


def visitor_writes(server_url: str, inbox: dict, name: str) -> None:
    """A visitor of the ring inbox starts a conversation (the widget's REST calls)."""
    with httpx.Client(base_url=server_url, timeout=10) as client:
        session = client.post("/api/widget/v1/sessions", json={"website_token": inbox["website_token"], "name": name})
        assert session.status_code == 201, session.text
        token = session.json()["contact_inbox"]["pubsub_token"]
        sent = client.post("/api/widget/v1/messages", headers={"X-Widget-Token": token},
                           json={"content": f"Hello from {name}", "echo_id": f"e-{name}"})
        assert sent.status_code == 201, sent.text


def offer_toast(page, name: str):
    return page.locator(".offer", has_text=name)


def test_offer_toast_in_every_tab_survives_a_reload_and_clears_everywhere(
        browser, messenger_server, operator_state, ring_inbox):
    context = browser.new_context(base_url=messenger_server.url, storage_state=operator_state,
                                  viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    context.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(str(exc))))
    tab1, tab2 = context.new_page(), context.new_page()
    for tab in (tab1, tab2):
        tab.goto("/app/")
        expect(tab.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)

    # Accept: both tabs ring with a countdown; the accepting tab opens it; both toasts go.
    first = f"Ringo {uuid.uuid4().hex[:6]}"
    visitor_writes(messenger_server.url, ring_inbox, first)
    for tab in (tab1, tab2):
        expect(offer_toast(tab, first)).to_be_visible(timeout=WAIT)
        expect(offer_toast(tab, first).locator(".offer-count")).to_have_text(re.compile(r"^\d+ s$"), timeout=WAIT)
    tab2.reload()  # mid-ring: the pending offer comes back from GET /api/v1/offers/
    expect(offer_toast(tab2, first)).to_be_visible(timeout=WAIT)
    offer_toast(tab1, first).get_by_role("button", name="Accept").click()
    for tab in (tab1, tab2):
        expect(offer_toast(tab, first)).to_have_count(0, timeout=WAIT)
    expect(tab1.locator(".msg.incoming", has_text=f"Hello from {first}")).to_be_visible(timeout=WAIT)

    # Decline from the other tab: gone in both (offer_withdrawn to every tab of the operator).
    second = f"Declino {uuid.uuid4().hex[:6]}"
    visitor_writes(messenger_server.url, ring_inbox, second)
    expect(offer_toast(tab1, second)).to_be_visible(timeout=WAIT)
    offer_toast(tab2, second).get_by_role("button", name="Decline").click()
    for tab in (tab1, tab2):
        expect(offer_toast(tab, second)).to_have_count(0, timeout=WAIT)
    tab1.reload()  # nothing pending any more: no toast comes back
    expect(tab1.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
    expect(tab1.locator(".offer")).to_have_count(0)
    context.close()
    assert not errors, errors


def test_offer_toast_on_a_phone_counts_down_and_goes_at_expiry(
        browser, messenger_server, operator_state, ring_inbox, admin_api):
    admin_api.patch(f"/api/v1/inboxes/{ring_inbox['id']}/", json={"ring_timeout_seconds": 6}).raise_for_status()
    try:
        context = browser.new_context(base_url=messenger_server.url, storage_state=operator_state,
                                      viewport={"width": 375, "height": 700}, is_mobile=True, has_touch=True)
        page = context.new_page()
        page.goto("/app/")
        expect(page.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
        name = f"Tiny {uuid.uuid4().hex[:6]}"
        visitor_writes(messenger_server.url, ring_inbox, name)
        toast = offer_toast(page, name)
        expect(toast).to_be_visible(timeout=WAIT)
        box = toast.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375, box
        expect(toast.get_by_role("button", name="Accept")).to_be_visible()
        # Nobody answers: the toast goes when expires_at passes (server clock), by itself.
        expect(toast).to_have_count(0, timeout=WAIT)
        context.close()
    finally:
        admin_api.patch(f"/api/v1/inboxes/{ring_inbox['id']}/", json={"ring_timeout_seconds": 60}).raise_for_status()
