"""The desk's composer in Chromium (DESIGN §11): colleagues typing (reply or note), the visitor's
draft (sneak peek), message delete, attachments from the panel (button, drop, paste)."""
from __future__ import annotations

import base64
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.test_messenger import WAIT, open_card, open_widget, visitor_send

pytestmark = [pytest.mark.browser, pytest.mark.live]

# A valid 1×1 PNG: the thumbnail must really load.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


STORED = re.compile(r"sent|seen")  # stored; "seen" once the open widget has read it


def _composer(page):
    return page.get_by_role("textbox", name="Message")


def test_colleague_typing_shows_reply_or_note(browser, messenger_server, operator_page, visitor_context):
    tag = uuid.uuid4().hex[:8]
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"Two agents {tag}")
    open_card(operator_page, tag)
    context, supervisor = login(browser, messenger_server, "supervisor", "supervisor-demo-pass")
    try:
        supervisor.get_by_role("tab", name="All").click()
        open_card(supervisor, tag)
        _composer(supervisor).press_sequentially("On it")
        line = operator_page.get_by_test_id("operator-typing")
        expect(line).to_have_text("Sam Supervisor is typing…", timeout=WAIT)
        expect(frame.locator("#w-typing")).to_be_visible(timeout=WAIT)
        supervisor.get_by_role("button", name="Private note").click()
        _composer(supervisor).press_sequentially(" (note)")
        expect(line).to_have_text("Sam Supervisor is writing a note…", timeout=WAIT)
        expect(frame.locator("#w-typing")).to_be_hidden(timeout=WAIT)  # a note is not the visitor's business
        # Both at once: each sees the other, neither sees themselves.
        _composer(operator_page).press_sequentially("Me too")
        expect(supervisor.get_by_test_id("operator-typing")).to_have_text("Ann Agent is typing…", timeout=WAIT)
        expect(operator_page.get_by_test_id("operator-typing")).to_have_count(1)
        _composer(supervisor).press("Enter")  # the note is sent: its author no longer types
        expect(operator_page.locator(".msg.private", has_text="On it (note)")).to_be_visible(timeout=WAIT)
        expect(line).to_have_count(0, timeout=WAIT)
    finally:
        context.close()


@pytest.mark.parametrize("transport", [None, "poll"], ids=["websocket", "long-poll"])
def test_sneak_peek_shows_the_visitors_draft(admin_api, demo_inbox, operator_page, visitor_context, transport):
    """Over the socket, and over the REST fallback (whose throttle lives in the shared store)."""
    admin_api.patch(f"/api/v1/inboxes/{demo_inbox['id']}/", json={"sneak_peek": True}).raise_for_status()
    try:
        tag = uuid.uuid4().hex[:8]
        _, frame = open_widget(visitor_context, transport)
        visitor_send(frame, f"Peek {tag}")
        open_card(operator_page, tag)
        frame.locator("#w-input").press_sequentially("where is my parcel", delay=20)
        draft = operator_page.get_by_test_id("visitor-draft")
        # Throttled, trailing edge: the whole text arrives, not a prefix.
        expect(draft).to_have_text("Draft: where is my parcel", timeout=WAIT)
        frame.locator("#w-input").press("Enter")
        expect(operator_page.locator(".msg.incoming .msg-text", has_text="where is my parcel")).to_be_visible(timeout=WAIT)
        expect(draft).to_have_count(0, timeout=WAIT)  # cleared by the message (and the stop)
    finally:
        admin_api.patch(f"/api/v1/inboxes/{demo_inbox['id']}/", json={"sneak_peek": False}).raise_for_status()


def test_operator_deletes_own_reply_everywhere(operator_page, visitor_context):
    tag = uuid.uuid4().hex[:8]
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"Delete test {tag}")
    open_card(operator_page, tag)
    _composer(operator_page).fill(f"Wrong price {tag}")
    _composer(operator_page).press("Enter")
    expect(frame.locator(".w-msg.theirs", has_text=f"Wrong price {tag}")).to_be_visible(timeout=WAIT)
    bubble = operator_page.locator(".msg.outgoing", has_text=f"Wrong price {tag}")
    expect(bubble.get_by_test_id("delivery")).to_contain_text(STORED, timeout=WAIT)
    # Nobody deletes the visitor's message but an administrator: no action on it for an agent.
    expect(operator_page.locator(".msg.incoming").get_by_test_id("delete-message")).to_have_count(0)
    bubble.get_by_test_id("delete-message").click()
    operator_page.get_by_test_id("confirm-delete").click()
    expect(operator_page.locator(".msg.outgoing.deleted").get_by_test_id("deleted")).to_have_text(
        "This message was deleted", timeout=WAIT)
    expect(operator_page.locator(".msg-text", has_text=f"Wrong price {tag}")).to_have_count(0)
    expect(frame.locator(".w-msg.deleted .w-deleted")).to_have_text("This message was deleted", timeout=WAIT)
    expect(frame.locator(".w-text", has_text=f"Wrong price {tag}")).to_have_count(0)
    # The card's preview says so too: live (message.updated), and from the list after a reload.
    card = operator_page.locator(".conv-card.selected")
    expect(card.locator(".card-snippet")).to_have_text("This message was deleted", timeout=WAIT)
    conversation_id = card.get_attribute("data-id")
    operator_page.reload()
    expect(operator_page.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
    operator_page.get_by_role("tab", name="All").click()
    expect(operator_page.locator(f'.conv-card[data-id="{conversation_id}"] .card-snippet')).to_have_text(
        "This message was deleted", timeout=WAIT)


def test_panel_attachments_button_drop_and_paste(operator_page, visitor_context):
    tag = uuid.uuid4().hex[:8]
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"Files {tag}")
    open_card(operator_page, tag)

    # The button: an image and a text file in one message.
    operator_page.get_by_label("Attach files").set_input_files([
        {"name": "photo.png", "mimeType": "image/png", "buffer": PNG},
        {"name": f"invoice-{tag}.txt", "mimeType": "text/plain", "buffer": b"total: 42\n"},
    ])
    expect(operator_page.get_by_test_id("composer-files")).to_contain_text("photo.png")
    _composer(operator_page).fill(f"Here you go {tag}")
    _composer(operator_page).press("Enter")
    stored = operator_page.locator(".msg.outgoing", has_text=f"Here you go {tag}")
    expect(stored.get_by_test_id("delivery")).to_contain_text(STORED, timeout=WAIT)
    thumb = stored.locator(".attachments a.thumb img")
    expect(thumb).to_be_visible()
    operator_page.wait_for_function("img => img.complete && img.naturalWidth === 1", arg=thumb.element_handle())
    expect(stored.get_by_test_id("file-link")).to_have_text(f"invoice-{tag}.txt (10 B)")
    in_widget = frame.locator(".w-msg.theirs", has_text=f"Here you go {tag}")
    expect(in_widget.locator("img.preview")).to_be_visible(timeout=WAIT)
    expect(in_widget.locator(".w-file")).to_have_text(f"invoice-{tag}.txt (10 B)")

    # Drop and paste go to the same list; a private note's image never reaches the widget.
    operator_page.get_by_role("button", name="Private note").click()
    operator_page.evaluate("""([b64, tag]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dropped = new DataTransfer();
        dropped.items.add(new File([bytes], "dropped.png", {type: "image/png"}));
        document.querySelector(".composer").dispatchEvent(new DragEvent("drop", {dataTransfer: dropped, bubbles: true, cancelable: true}));
        const pasted = new DataTransfer();
        pasted.items.add(new File([bytes], "image.png", {type: "image/png"}));
        document.querySelector("#composer-input").dispatchEvent(new ClipboardEvent("paste", {clipboardData: pasted, bubbles: true, cancelable: true}));
    }""", [base64.b64encode(PNG).decode(), tag])
    files = operator_page.get_by_test_id("composer-files")
    expect(files).to_contain_text("dropped.png")
    expect(files).to_contain_text("pasted-")
    _composer(operator_page).fill(f"Note with images {tag}")
    _composer(operator_page).press("Enter")
    note = operator_page.locator(".msg.private", has_text=f"Note with images {tag}")
    expect(note.get_by_test_id("delivery")).to_contain_text(STORED, timeout=WAIT)
    expect(note.locator(".attachments a.thumb img")).to_have_count(2)

    # A disallowed type is refused by the server's policy, shown on the bubble, nothing stored.
    operator_page.get_by_role("button", name="Reply").click()
    operator_page.get_by_label("Attach files").set_input_files(
        [{"name": "page.html", "mimeType": "text/html", "buffer": b"<script>alert(1)</script>"}])
    _composer(operator_page).fill(f"Bad file {tag}")
    _composer(operator_page).press("Enter")
    failed = operator_page.locator(".msg.failed", has_text=f"Bad file {tag}")
    expect(failed.get_by_test_id("delivery")).to_contain_text("invalid_attachment", timeout=WAIT)
    visitor_send(frame, f"After all {tag}")  # the widget has everything up to here
    expect(frame.locator(".w-msg", has_text=f"Note with images {tag}")).to_have_count(0)
    expect(frame.locator(".w-msg", has_text=f"Bad file {tag}")).to_have_count(0)
