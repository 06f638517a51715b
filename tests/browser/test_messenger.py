"""End to end in Chromium: a visitor on a page with the widget snippet and an operator in the
panel, against one live daphne server (tests/browser/conftest.py)."""
from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login, save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.live]

WAIT = 15_000  # ms: generous for a loaded CI machine; expect() returns as soon as it holds
XSS = "<img src=x onerror=alert(1)>"


def widget(page):
    return page.frame_locator("iframe[data-messenger]")


def open_widget(visitor_context, transport: str | None = None):
    page = visitor_context.new_page()
    page.goto("/demo/" + (f"?transport={transport}" if transport else ""))
    frame = widget(page)
    frame.locator("#launcher").click()
    expect(frame.locator("#window")).to_be_visible()
    if transport:
        expect(frame.locator("body")).to_have_attribute("data-transport", transport)
    expect(frame.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
    return page, frame


def visitor_send(frame, text: str) -> None:
    box = frame.locator("#w-input")
    box.fill(text)
    box.press("Enter")
    expect(frame.locator(".w-msg.mine:not(.pending)", has_text=text)).to_be_visible(timeout=WAIT)


def open_card(operator_page, text: str):
    card = operator_page.locator(".conv-card", has_text=text)
    expect(card).to_be_visible(timeout=WAIT)
    card.click()
    return card


@pytest.mark.parametrize("transport", [None, "sse", "poll"], ids=["websocket", "sse", "long-poll"])
def test_visitor_and_operator_talk_live(operator_page, visitor_context, transport):
    tag = uuid.uuid4().hex[:8]
    page, frame = open_widget(visitor_context, transport)
    expect(frame.locator(".greeting")).to_contain_text("Ask us anything")

    # The visitor writes: the conversation appears in the open panel without a reload.
    visitor_send(frame, f"Hello from the widget {tag}")
    open_card(operator_page, tag)
    if transport is None:
        # The only online operator gets it auto-assigned: a tone and a notice (a desktop
        # notification when the tab is hidden).
        card = operator_page.locator(".conv-card", has_text=tag)
        notice = f"assigned to you: {card.locator('.card-name').inner_text()} {card.locator('.card-id').inner_text()}"
        expect(operator_page.locator(".toast", has_text=notice)).to_be_visible(timeout=WAIT)
    expect(operator_page.locator(".msg.incoming .msg-text", has_text=f"Hello from the widget {tag}")).to_be_visible()

    # Typing shows on both sides.
    frame.locator("#w-input").press_sequentially("abc")
    expect(operator_page.get_by_test_id("contact-typing")).to_contain_text("is typing", timeout=WAIT)
    composer = operator_page.get_by_role("textbox", name="Message")
    # Typing is ephemeral: over long-poll a frame sent between two polls is not delivered, and
    # the composer sends typing.start again (every 3 s) while the operator keeps typing.
    for attempt in range(4):
        composer.press_sequentially("Hi")
        try:
            expect(frame.locator("#w-typing")).to_be_visible(timeout=WAIT if transport is None else 4_000)
            break
        except AssertionError:
            if transport is None or attempt == 3:
                raise

    # The operator replies (optimistic bubble, then stored); the visitor sees it.
    composer.fill(f"Hello visitor {tag}")
    composer.press("Enter")
    expect(operator_page.locator(".msg.outgoing", has_text=f"Hello visitor {tag}").get_by_test_id("delivery")).to_contain_text("sent", timeout=WAIT)
    expect(frame.locator(".w-msg.theirs", has_text=f"Hello visitor {tag}")).to_be_visible(timeout=WAIT)
    expect(frame.locator("#w-typing")).to_be_hidden()

    if transport is None:
        # A reload continues the same conversation; while the window is closed an operator
        # reply raises the bubble's counter and the host page gets a messenger:message event.
        page.reload()
        frame = widget(page)
        expect(frame.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
        page.wait_for_function("window.__messengerEvents.some(e => e.type === 'messenger:ready')")
        composer.fill(f"Still there {tag}?")
        composer.press("Enter")
        expect(frame.locator("#unread")).to_have_text("1", timeout=WAIT)
        page.wait_for_function(
            "tag => window.__messengerEvents.some(e => e.type === 'messenger:message' && e.detail.content.includes(tag))",
            arg=f"Still there {tag}")
        page.get_by_role("button", name="Talk to us").click()  # the host page calls window.$messenger.open()
        expect(frame.locator("#unread")).to_be_hidden()
        expect(frame.locator(".w-msg.theirs", has_text=f"Hello visitor {tag}")).to_be_visible(timeout=WAIT)
        expect(frame.locator(".w-msg.mine", has_text=f"Hello from the widget {tag}")).to_have_count(1)
        save_screenshot(page, "widget.png")  # panel.png: tests/browser/test_desk_two_servers.py

        # Phone-sized viewport: the open widget takes the whole screen.
        page.set_viewport_size({"width": 390, "height": 844})
        expect(page.locator("iframe[data-messenger]")).to_have_css("width", "390px")
        expect(frame.locator("body")).to_have_class(re.compile(r"\bmobile\b"))
        save_screenshot(page, "widget-phone.png")
        operator_page.set_viewport_size({"width": 720, "height": 800})
        expect(operator_page.get_by_role("button", name="Back to list")).to_be_visible()
        save_screenshot(operator_page, "panel-narrow.png")


def test_markup_is_shown_as_text(operator_page, visitor_context):
    tag = uuid.uuid4().hex[:8]
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"{tag} {XSS}")
    open_card(operator_page, tag)
    body = operator_page.locator(".msg.incoming .msg-text", has_text=tag)
    expect(body).to_have_text(f"{tag} {XSS}")
    expect(operator_page.locator(".messages img")).to_have_count(0)
    expect(operator_page.locator(".conv-card", has_text=tag)).to_contain_text(XSS)
    composer = operator_page.get_by_role("textbox", name="Message")
    composer.fill(f"echo {tag} {XSS}")
    composer.press("Enter")
    expect(frame.locator(".w-msg.theirs .w-text", has_text=f"echo {tag}")).to_have_text(f"echo {tag} {XSS}", timeout=WAIT)
    expect(frame.locator(".w-messages img")).to_have_count(0)
    # No alert() ran: the fixtures fail the test on any dialog or page error.


def test_operator_reconnects_and_misses_nothing(operator_page, visitor_context, messenger_server):
    tag = uuid.uuid4().hex[:8]
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"Before the outage {tag}")
    open_card(operator_page, tag)
    token = frame.locator("body").evaluate("() => window.__widget.session.pubsub_token")

    # The operator's network drops: the socket closes and cannot come back for now.
    operator_page.evaluate("""() => {
        const s = window.__panel.socket;
        s.realUrl = s.opts.url;
        s.opts.url = "ws://127.0.0.1:9/unreachable";
        s.drop();
    }""")
    expect(operator_page.locator("#conn-banner")).to_have_text("Reconnecting…", timeout=WAIT)

    # Meanwhile the visitor writes (through the REST API, as a widget in poll mode would).
    response = httpx.post(f"{messenger_server.url}/api/widget/v1/messages", headers={"X-Widget-Token": token},
                          json={"content": f"During the outage {tag}", "echo_id": f"outage-{tag}"})
    assert response.status_code == 201, response.text

    operator_page.evaluate("() => { const s = window.__panel.socket; s.opts.url = s.realUrl; }")
    expect(operator_page.locator("#conn-banner")).to_be_hidden(timeout=30_000)
    expect(operator_page.locator(".msg.incoming", has_text=f"During the outage {tag}")).to_have_count(1, timeout=WAIT)
    # Resume replays from the last applied id; the list applies it once too.
    expect(operator_page.locator(".conv-card", has_text=f"During the outage {tag}")).to_have_count(1)
    operator_page.evaluate("() => window.__panel.socket.drop()")  # a plain reconnect replays nothing twice
    expect(operator_page.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
    expect(operator_page.locator(".msg.incoming", has_text=f"During the outage {tag}")).to_have_count(1)


def test_widget_shows_send_errors(visitor_context):
    _, frame = open_widget(visitor_context)
    frame.locator("#w-input").fill("x" * 150_001)
    frame.locator("#w-input").press("Enter")
    expect(frame.locator("#w-error")).to_have_text("This message is too long.", timeout=WAIT)
    expect(frame.locator(".w-msg.failed")).to_have_count(1)


def test_widget_queues_messages_while_offline(operator_page, visitor_context):
    tag = uuid.uuid4().hex[:8]
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"First {tag}")
    open_card(operator_page, tag)

    # The visitor's connection drops and stays down while they type.
    frame.locator("body").evaluate("""() => {
        const client = window.__widget.transport.client;
        client.realUrl = client.opts.url;
        client.opts.url = "ws://127.0.0.1:9/unreachable";
        client.drop();
    }""")
    expect(frame.locator("#w-conn")).to_have_text("Reconnecting…", timeout=WAIT)
    box = frame.locator("#w-input")
    box.fill(f"Typed offline {tag}")
    box.press("Enter")
    expect(frame.locator(".w-msg.pending", has_text=f"Typed offline {tag}")).to_contain_text("waiting for connection")

    frame.locator("body").evaluate("() => { const c = window.__widget.transport.client; c.opts.url = c.realUrl; }")
    expect(frame.locator(".w-msg.mine:not(.pending)", has_text=f"Typed offline {tag}")).to_have_count(1, timeout=30_000)
    expect(frame.locator(".w-msg.pending")).to_have_count(0)
    expect(operator_page.locator(".msg.incoming", has_text=f"Typed offline {tag}")).to_have_count(1, timeout=WAIT)


def test_widget_falls_back_when_websockets_are_blocked(operator_page, visitor_context):
    tag = uuid.uuid4().hex[:8]
    # A proxy that kills WebSockets: the widget moves to SSE (or long-poll) by itself.
    visitor_context.route_web_socket(re.compile(r".*/ws/widget/$"), lambda ws: ws.close())
    _, frame = open_widget(visitor_context)
    expect(frame.locator("body")).to_have_attribute("data-transport", re.compile(r"^(sse|poll)$"))
    visitor_send(frame, f"No sockets here {tag}")
    open_card(operator_page, tag)
    composer = operator_page.get_by_role("textbox", name="Message")
    composer.fill(f"Got it {tag}")
    composer.press("Enter")
    expect(frame.locator(".w-msg.theirs", has_text=f"Got it {tag}")).to_be_visible(timeout=WAIT)


def test_operator_availability_reaches_the_widget(operator_page, visitor_context):
    _, frame = open_widget(visitor_context)
    status = frame.locator("#w-status")
    expect(status).to_contain_text("Online", timeout=WAIT)
    # The only connected operator goes offline: visitors see that nobody is available (and no
    # invented answer time).
    operator_page.get_by_label("My availability").select_option("offline")
    expect(operator_page.locator("#my-dot")).to_have_class("dot offline")
    expect(status).to_contain_text("as soon as someone is free", timeout=WAIT)
    operator_page.get_by_label("My availability").select_option("online")
    expect(status).to_contain_text("Online", timeout=WAIT)


def test_widget_on_a_business_site_of_another_origin(shop_origin, shop_inbox, operator_page, visitor_context):
    """The real embed: the snippet on the business's site loads our iframe from the messenger's
    host; the inbox allows only the business's origin."""
    tag = uuid.uuid4().hex[:8]
    page = visitor_context.new_page()
    page.goto(f"{shop_origin}/?token={shop_inbox['website_token']}")
    frame = widget(page)
    frame.locator("#launcher").click()
    expect(frame.locator(".greeting")).to_contain_text("Welcome to the shop!", timeout=WAIT)
    expect(frame.locator("body")).to_have_attribute("data-conn", "open", timeout=8_000)
    visitor_send(frame, f"Hello from the shop {tag}")
    open_card(operator_page, tag)


def test_actions_show_at_once_in_another_operators_panel(browser, messenger_server, operator_page, visitor_context):
    tag = uuid.uuid4().hex[:8]
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"Please escalate {tag}")
    agent_card = open_card(operator_page, tag)
    context, supervisor = login(browser, messenger_server, "supervisor", "supervisor-demo-pass")
    try:
        supervisor.get_by_role("tab", name="All").click()
        supervisor.get_by_label("Status").select_option("all")
        card = open_card(supervisor, tag)

        # The supervisor acts; the agent's panel follows at once.
        supervisor.get_by_test_id("more-actions").locator("summary").click()
        supervisor.get_by_label("Priority").select_option("high")
        expect(agent_card.locator(".chip.prio-high")).to_be_visible(timeout=WAIT)
        supervisor.get_by_label("Assignee").select_option(label="Sam Supervisor (me) · online")
        expect(agent_card.locator(".assignee")).to_have_attribute("title", "Assigned to Sam Supervisor", timeout=WAIT)
        supervisor.get_by_label("Assignee").select_option(label="Ann Agent · online")
        # The toast of the first (automatic) assignment may still be showing: look at the newest.
        expect(operator_page.locator(".toast", has_text=f"assigned to you: {agent_card.locator('.card-name').inner_text()}").last
               ).to_be_visible(timeout=WAIT)

        # The agent resolves; the supervisor sees the status and the activity line.
        operator_page.get_by_test_id("toggle-status").click()
        expect(card.locator(".chip.status-resolved")).to_be_visible(timeout=WAIT)
        expect(supervisor.locator(".activity", has_text="resolved by Ann Agent")).to_be_visible(timeout=WAIT)
    finally:
        context.close()


def test_reset_starts_a_new_anonymous_visitor(visitor_context):
    tag = uuid.uuid4().hex[:8]
    page, frame = open_widget(visitor_context)
    visitor_send(frame, f"Forget me {tag}")
    before = frame.locator("body").evaluate("() => window.__widget.session.source_id")
    page.evaluate("() => window.$messenger.reset()")
    expect(frame.locator(".w-msg.mine")).to_have_count(0, timeout=WAIT)
    expect(frame.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
    after = frame.locator("body").evaluate("() => window.__widget.session.source_id")
    assert after != before
    page.reload()
    frame = widget(page)
    frame.locator("#launcher").click()
    expect(frame.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
    expect(frame.locator(".w-msg", has_text=f"Forget me {tag}")).to_have_count(0)
