"""The support desk across two server processes (DESIGN §11, "done when"): the operator's panel
is served by server A (the session's browser server), the visitor's widget, on a phone, by
server B (a second daphne process on the same PostgreSQL database and Redis). Every frame one
side causes reaches the other through the outbox and Redis, never through one process's memory.

PostgreSQL + Redis only: the embedded mode has one process by design (SQLite, in-memory layer).
"""
from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, save_screenshot
from tests.browser.test_desk_composer import STORED
from tests.browser.test_desk_edges import _DEVICES, _id_of, panel
from tests.browser.test_desk_visitor import open_widget, send
from tests.browser.test_messenger import WAIT, open_card
from tests.live import start_server

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.postgres, pytest.mark.redis]

PHONE = _DEVICES["Pixel 7"]


def _png(width: int, height: int) -> bytes:
    """A real PNG (a checkerboard): the preview must load from server B,
    and the README's screenshot shows a picture rather than a dot."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\0" + b"".join(bytes((240, 200, 80) if (x // 12 + y // 12) % 2 else (60, 90, 160)) for x in range(width))
        for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG_WIDTH = 96
PNG = _png(PNG_WIDTH, 64)


@pytest.fixture(scope="module")
def server_b(messenger_server: LiveServer) -> Iterator[LiveServer]:
    """A second process of the same checkout, on server A's database, Redis and key prefix."""
    live = start_server(env=messenger_server.env)
    try:
        yield LiveServer(url=live.url, env=live.env, log_path=live.log)
    finally:
        live.stop()


@pytest.fixture(scope="module")
def desk(admin_api: httpx.Client, demo_inbox: dict, messenger_server: LiveServer, server_b: LiveServer) -> dict:
    """An inbox embedded from server B's origin (and A's), the agent its member: sneak peek and
    the survey on, no auto-assignment (the visitor waits in the queue); a canned response and a
    label for it; and a second inbox like it that rings the agent."""
    tag = uuid.uuid4().hex[:6]
    common = {"branch": demo_inbox.get("branch"), "channel_type": "web_widget",
              "allowed_origins": [messenger_server.url, server_b.url], "greeting": "Hello from the desk"}
    agent = _id_of(admin_api, "agent")
    inboxes = {}
    for name, settings in (
        ("desk", {"enable_auto_assignment": False, "sneak_peek": True, "csat_survey_enabled": True}),
        ("ring", {"enable_auto_assignment": True, "assignment_mode": "ring", "ring_timeout_seconds": 120,
                  "assignment_rate_limit": 1000}),
    ):
        response = admin_api.post("/api/v1/inboxes/", json={"name": f"Two {name} {tag}", **common, **settings})
        assert response.status_code == 201, response.text
        inboxes[name] = response.json()
        admin_api.post(f"/api/v1/inboxes/{inboxes[name]['id']}/members/", json={"user_ids": [agent]}).raise_for_status()
    canned = admin_api.post("/api/v1/canned_responses/", json={
        "short_code": f"track{tag}", "content": f"Your parcel is on its way ({tag}).", "inbox": inboxes["desk"]["id"]})
    assert canned.status_code == 201, canned.text
    label = admin_api.post("/api/v1/labels/", json={"name": f"delivery-{tag}", "color": "#0a7d33"})
    assert label.status_code == 201, label.text
    return {**inboxes, "tag": tag, "canned": canned.json(), "label": label.json()["name"]}


def _open_panel(browser, server: LiveServer, operator_state: str):
    context, page = panel(browser, server.url, operator_state)
    page.goto("/app/")
    expect(page.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
    page.get_by_role("tab", name="All").click()
    return context, page


def _phone(browser, server: LiveServer):
    context = browser.new_context(base_url=server.url, **PHONE)
    errors: list[str] = []
    context.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(str(exc))))
    context.errors = errors
    return context


def test_the_desk_features_across_two_processes(browser, messenger_server, server_b, operator_state, desk):
    tag = uuid.uuid4().hex[:8]
    panel_context, operator = _open_panel(browser, messenger_server, operator_state)
    phone = _phone(browser, server_b)
    try:
        page, frame = open_widget(phone, desk["desk"])
        # The visitor writes (B): they wait first in line; the panel (A) lists the conversation.
        send(frame, f"Hello from a phone {tag}")
        queue_line = frame.get_by_test_id("queue-line")
        expect(queue_line).to_have_text("You are next in line", timeout=WAIT)
        open_card(operator, tag)
        card = operator.locator(".conv-card.selected")  # its text changes with the last message

        # Sneak peek: the visitor's unsent text (B) shows under the thread (A), then their message.
        frame.locator("#w-input").press_sequentially("where is my parcel", delay=20)
        draft = operator.get_by_test_id("visitor-draft")
        expect(draft).to_have_text("Draft: where is my parcel", timeout=WAIT)
        frame.locator("#w-input").press("Enter")
        expect(operator.locator(".msg.incoming .msg-text", has_text="where is my parcel")).to_be_visible(timeout=WAIT)
        expect(draft).to_have_count(0, timeout=WAIT)

        # The operator types (A): the visitor sees it (B).
        composer = operator.get_by_role("textbox", name="Message")
        composer.press_sequentially("Let me check")
        expect(frame.locator("#w-typing")).to_be_visible(timeout=WAIT)

        # A canned response through the "/" picker; its reply answers the visitor, whose
        # conversation leaves the queue (A's change, B's widget).
        composer.fill(f"/{desk['canned']['short_code']}")
        options = operator.get_by_test_id("canned-picker").get_by_test_id("canned-option")
        expect(options).to_have_count(1, timeout=WAIT)
        composer.press("Enter")
        expect(composer).to_have_value(desk["canned"]["content"])
        composer.press("Enter")
        expect(frame.locator(".w-msg.theirs", has_text=desk["canned"]["content"])).to_be_visible(timeout=WAIT)
        expect(frame.locator("#w-typing")).to_be_hidden(timeout=WAIT)
        expect(queue_line).to_be_hidden(timeout=WAIT)

        # A label: chips in the header and on the card.
        operator.get_by_test_id("edit-labels").click()
        editor = operator.get_by_test_id("label-editor")
        editor.get_by_test_id("label-search").fill(desk["label"])
        editor.locator(f'input[data-label="{desk["label"]}"]').check()
        editor.get_by_test_id("label-apply").click()
        expect(editor).to_be_hidden(timeout=WAIT)
        expect(operator.get_by_test_id("thread-labels").get_by_test_id("label-chip")).to_have_text(
            [desk["label"]], timeout=WAIT)
        expect(card.get_by_test_id("label-chip")).to_have_text([desk["label"]])
        # The operator takes it.
        operator.get_by_role("button", name="Assign to me").click()
        expect(card.locator(".assignee")).to_have_attribute("title", "Assigned to Ann Agent", timeout=WAIT)

        # An image from the panel's composer (uploaded to A): its preview loads in the widget (B).
        operator.get_by_label("Attach files").set_input_files(
            [{"name": "label-photo.png", "mimeType": "image/png", "buffer": PNG}])
        composer.fill(f"Here is the label {tag}")
        composer.press("Enter")
        preview = frame.locator(".w-msg.theirs", has_text=f"Here is the label {tag}").locator("img.preview")
        expect(preview).to_be_visible(timeout=WAIT)
        loaded = "([img, width]) => img.complete && img.naturalWidth === width"
        page.wait_for_function(loaded, arg=[preview.element_handle(), PNG_WIDTH])

        # A reply deleted (A): gone on both sides, and the card's preview says so.
        composer.fill(f"Wrong tracking number {tag}")
        composer.press("Enter")
        expect(frame.locator(".w-msg.theirs", has_text=f"Wrong tracking number {tag}")).to_be_visible(timeout=WAIT)
        bubble = operator.locator(".msg.outgoing", has_text=f"Wrong tracking number {tag}")
        expect(bubble.get_by_test_id("delivery")).to_contain_text(STORED, timeout=WAIT)
        bubble.get_by_test_id("delete-message").click()
        operator.get_by_test_id("confirm-delete").click()
        expect(frame.locator(".w-msg.deleted .w-deleted")).to_have_text("This message was deleted", timeout=WAIT)
        expect(frame.locator(".w-text", has_text=f"Wrong tracking number {tag}")).to_have_count(0)
        expect(operator.locator(".msg.outgoing.deleted").get_by_test_id("deleted")).to_have_count(1, timeout=WAIT)
        expect(card.locator(".card-snippet")).to_have_text("This message was deleted", timeout=WAIT)

        # The README's picture of the panel.
        thumb = operator.locator(".msg.outgoing .attachments a.thumb img").first
        operator.wait_for_function(loaded, arg=[thumb.element_handle(), PNG_WIDTH])
        save_screenshot(operator, "panel.png")

        # Resolved (A): the survey in the widget (B); the answer shows in the panel's thread (A).
        operator.get_by_test_id("toggle-status").click()
        survey = frame.get_by_test_id("csat")
        expect(survey).to_be_visible(timeout=WAIT)
        survey.get_by_role("radio", name="4 of 5: Satisfied").click()
        survey.get_by_label("Comment").fill(f"Quick {tag}")
        survey.get_by_role("button", name="Send").click()
        expect(survey.get_by_test_id("csat-thanks")).to_contain_text("★★★★☆", timeout=WAIT)
        expect(operator.locator(".activity", has_text="★★★★☆")).to_contain_text(f"Quick {tag}", timeout=WAIT)
    finally:
        phone.close()
        panel_context.close()
    assert not operator.errors, operator.errors
    assert not phone.errors, phone.errors


def test_a_ring_offer_from_a_phone_on_one_process_is_accepted_on_the_other(
        browser, messenger_server, server_b, operator_state, admin_api, desk):
    tag = uuid.uuid4().hex[:8]
    panel_context, operator = _open_panel(browser, messenger_server, operator_state)
    phone = _phone(browser, server_b)
    try:
        page, frame = open_widget(phone, desk["ring"])
        send(frame, f"Ring me {tag}")
        # Offered, not assigned: the visitor is still in line while the offer rings.
        queue_line = frame.get_by_test_id("queue-line")
        expect(queue_line).to_have_text("You are next in line", timeout=WAIT)
        [conversation] = admin_api.get("/api/v1/conversations/", params={
            "inbox": desk["ring"]["id"], "status": "all", "assignee": "all"}).json()["results"]
        offer = operator.locator(f'.offer[data-conversation-id="{conversation["id"]}"]')
        expect(offer).to_be_visible(timeout=WAIT)
        expect(offer).to_contain_text(f"#{conversation['display_id']}")
        offer.get_by_role("button", name="Accept").click()
        expect(offer).to_have_count(0, timeout=WAIT)
        # Accepted on A: the thread opens there, and the visitor's line goes on B.
        expect(operator.locator(".msg.incoming", has_text=f"Ring me {tag}")).to_be_visible(timeout=WAIT)
        expect(operator.locator(".conv-card.selected .assignee")).to_have_attribute(
            "title", "Assigned to Ann Agent", timeout=WAIT)
        expect(queue_line).to_be_hidden(timeout=WAIT)
    finally:
        phone.close()
        panel_context.close()
    assert not operator.errors, operator.errors
    assert not phone.errors, phone.errors
