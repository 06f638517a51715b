"""In Chromium: the rough edges of a newcomer's first session (docs/desk.md, "Panel and widget
details"): snooze until the next reply, notices only for what happens now, counts that follow
the list, the reconnecting banner and half-open sockets, the header at 1280 px, the landing tab
of supervisors, the widget and the demo page on phones, the favicon."""
from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.test_messenger import WAIT, open_card, open_widget, visitor_send

pytestmark = [pytest.mark.browser, pytest.mark.live]


def _id_of(api: httpx.Client, username: str) -> int:
    agents = api.get("/api/v1/agents/").json()
    rows = agents["results"] if isinstance(agents, dict) else agents
    return next(a["id"] for a in rows if a.get("username") == username)


@pytest.fixture
def quiet_inbox(admin_api: httpx.Client, demo_inbox: dict, messenger_server) -> dict:
    """An inbox of its own (the agent its only member, no auto-assignment): nothing another
    test does changes its counts."""
    tag = uuid.uuid4().hex[:6]
    response = admin_api.post("/api/v1/inboxes/", json={
        "name": f"Quiet {tag}", "branch": demo_inbox.get("branch"), "channel_type": "web_widget",
        "enable_auto_assignment": False, "allowed_origins": [messenger_server.url],
    })
    assert response.status_code == 201, response.text
    inbox = response.json()
    admin_api.post(f"/api/v1/inboxes/{inbox['id']}/members/",
                   json={"user_ids": [_id_of(admin_api, "agent")]}).raise_for_status()
    return inbox


class Visitor:
    """A visitor writing through the widget's REST API (as a widget in poll mode does)."""

    def __init__(self, server_url: str, inbox: dict) -> None:
        self.server_url = server_url
        with httpx.Client(base_url=server_url, timeout=10) as client:
            session = client.post("/api/widget/v1/sessions", json={"website_token": inbox["website_token"]})
            session.raise_for_status()
            self.token = session.json()["contact_inbox"]["pubsub_token"]

    def say(self, text: str) -> int:
        """Send a message; the conversation's id."""
        with httpx.Client(base_url=self.server_url, timeout=10) as client:
            sent = client.post("/api/widget/v1/messages", headers={"X-Widget-Token": self.token},
                               json={"content": text, "echo_id": uuid.uuid4().hex})
        assert sent.status_code == 201, sent.text
        return int(sent.json()["conversation_id"])


def visitor_conversation(server_url: str, inbox: dict, text: str) -> int:
    """A new visitor writes to the inbox; the conversation's id."""
    return Visitor(server_url, inbox).say(text)


def panel(browser, server_url: str, operator_state: str, *, viewport=None):
    context = browser.new_context(base_url=server_url, storage_state=operator_state,
                                  viewport=viewport or {"width": 1280, "height": 800})
    # Every notice ever shown (a toast lives 5 s: a test must not miss one that came and went).
    context.add_init_script("""
        window.__toasts = [];
        new MutationObserver((records) => records.forEach((r) => r.addedNodes.forEach((n) => {
            if (n.classList && n.classList.contains("toast")) window.__toasts.push(n.textContent);
        }))).observe(document, { childList: true, subtree: true });
    """)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    return context, page


def count(page, tab: str):
    return page.locator(f'[data-count="{tab}"]')


def test_snooze_until_the_next_reply(operator_page, visitor_context):
    tag = uuid.uuid4().hex[:8]
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"Snooze me {tag}")
    open_card(operator_page, tag)
    operator_page.get_by_label("Status").select_option("all")
    operator_page.get_by_label("Snooze", exact=True).select_option("reply")
    status = operator_page.get_by_test_id("status")
    expect(status).to_have_text("snoozed", timeout=WAIT)
    expect(operator_page.locator(".thread-title")).to_contain_text("until the next reply")
    expect(operator_page.locator(".activity", has_text="snoozed until the next reply")).to_be_visible(timeout=WAIT)
    # The visitor writes again: the conversation is open at once.
    visitor_send(frame, f"Any news? {tag}")
    expect(status).to_have_text("open", timeout=WAIT)


def test_notices_are_for_what_happens_now_not_for_replayed_history(
        browser, messenger_server, operator_state, admin_api, quiet_inbox):
    """The notices are told apart by conversation id (the panel keeps the ids it noticed in
    ``state.noticed``), not by display id or toast text: other conversations' notices (the
    demo's, another branch's #1) cannot make it pass or fail."""
    tag = uuid.uuid4().hex[:8]
    first = visitor_conversation(messenger_server.url, quiet_inbox, f"Old one {tag}")
    second = visitor_conversation(messenger_server.url, quiet_inbox, f"Old two {tag}")
    agent = _id_of(admin_api, "agent")
    context, page = panel(browser, messenger_server.url, operator_state)
    try:
        page.goto("/app/")
        expect(page.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
        page.get_by_role("tab", name="All").click()
        page.get_by_label("Inbox").select_option(str(quiet_inbox["id"]))
        expect(page.locator(".conv-card", has_text=tag)).to_have_count(2, timeout=WAIT)

        # While the panel's socket is away, both are assigned to the agent: the resume replays
        # it (the list shows it), but that is history, not news: no notice.
        page.evaluate("""() => {
            const s = window.__panel.socket;
            s.realUrl = s.opts.url;
            s.opts.url = "ws://127.0.0.1:9/unreachable";
            s.drop();
        }""")
        expect(page.locator("#conn-banner")).to_have_text("Reconnecting…", timeout=WAIT)
        for cid in (first, second):
            admin_api.post(f"/api/v1/conversations/{cid}/assign", json={"assignee_id": agent}).raise_for_status()
        page.evaluate("() => { const s = window.__panel.socket; s.opts.url = s.realUrl; }")
        expect(page.locator("#conn-banner")).to_be_hidden(timeout=30_000)
        expect(page.locator(".conv-card .assignee[title='Assigned to Ann Agent']")).to_have_count(2, timeout=WAIT)

        # An assignment happening now is news: one notice for it. Notices are batched (600 ms):
        # once this one is out, a notice wrongly raised for the replayed ones would be out too.
        third = visitor_conversation(messenger_server.url, quiet_inbox, f"New one {tag}")
        expect(page.locator(".conv-card", has_text=f"New one {tag}")).to_be_visible(timeout=WAIT)
        admin_api.post(f"/api/v1/conversations/{third}/assign", json={"assignee_id": agent}).raise_for_status()
        page.wait_for_function("id => (window.__panel.state.noticed || []).includes(id)", arg=third, timeout=WAIT)
        noticed = page.evaluate("() => window.__panel.state.noticed")
        assert noticed.count(third) == 1, noticed
        assert first not in noticed and second not in noticed, (noticed, first, second)
        assert any("assigned to you" in text for text in page.evaluate("() => window.__toasts"))
    finally:
        context.close()
    assert not page.errors, page.errors


def test_tab_counts_follow_the_events_that_move_the_list(
        browser, messenger_server, operator_state, admin_api, quiet_inbox):
    tag = uuid.uuid4().hex[:8]
    cid = visitor_conversation(messenger_server.url, quiet_inbox, f"Count me {tag}")
    context, page = panel(browser, messenger_server.url, operator_state)
    try:
        page.goto("/app/")
        expect(page.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
        page.get_by_role("tab", name="All").click()
        page.get_by_label("Inbox").select_option(str(quiet_inbox["id"]))
        expect(page.locator(".conv-card")).to_have_count(1, timeout=WAIT)
        expect(count(page, "all")).to_have_text("1", timeout=WAIT)
        expect(count(page, "unassigned")).to_have_text("1")
        expect(count(page, "mine")).to_have_text("0")
        # From here the server's counts cannot be fetched: only the events can move them.
        page.route(re.compile(r".*/api/v1/conversations/meta/.*"), lambda route: route.abort())
        admin_api.post(f"/api/v1/conversations/{cid}/assign",
                       json={"assignee_id": _id_of(admin_api, "agent")}).raise_for_status()
        expect(page.locator(".conv-card .assignee")).to_have_attribute("title", "Assigned to Ann Agent", timeout=WAIT)
        expect(count(page, "mine")).to_have_text("1", timeout=WAIT)
        expect(count(page, "unassigned")).to_have_text("0")
        expect(count(page, "all")).to_have_text("1")
        admin_api.post(f"/api/v1/conversations/{cid}/toggle_status", json={"status": "resolved"}).raise_for_status()
        expect(page.locator(".conv-card")).to_have_count(0, timeout=WAIT)  # the list shows open ones
        expect(count(page, "mine")).to_have_text("0", timeout=WAIT)
        expect(count(page, "all")).to_have_text("0")
    finally:
        context.close()
    assert not page.errors, page.errors


def test_a_half_open_socket_shows_reconnecting_and_recovers_without_losing_a_message(
        browser, messenger_server, operator_state, quiet_inbox):
    """The network dies without a close: the socket looks open, but nothing passes either way.
    The client's ping goes unanswered, it abandons the socket, shows the banner, reconnects and
    resumes: the message written meanwhile arrives once."""
    tag = uuid.uuid4().hex[:8]
    visitor = Visitor(messenger_server.url, quiet_inbox)
    visitor.say(f"Before {tag}")
    context, page = panel(browser, messenger_server.url, operator_state)
    cut = {"dead": [], "refuse": False}

    def route(ws):
        if cut["refuse"]:
            ws.close()
            return
        server = ws.connect_to_server()
        link = {"dead": False}
        cut["dead"].append(link)
        ws.on_message(lambda message: None if link["dead"] else server.send(message))
        server.on_message(lambda message: None if link["dead"] else ws.send(message))

    try:
        page.route_web_socket(re.compile(r".*/ws/operator/$"), route)
        page.goto("/app/")
        expect(page.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
        page.get_by_role("tab", name="All").click()
        page.get_by_label("Inbox").select_option(str(quiet_inbox["id"]))
        card = page.locator(".conv-card", has_text=tag)
        expect(card).to_be_visible(timeout=WAIT)
        card.click()

        # The link goes silent (no close), and new connections fail for now.
        for link in cut["dead"]:
            link["dead"] = True
        cut["refuse"] = True
        page.evaluate("() => window.__panel.socket.probe()")  # the periodic ping, now
        banner = page.locator("#conn-banner")
        expect(banner).to_have_text("Reconnecting…", timeout=WAIT)
        expect(page.locator("body")).to_have_attribute("data-conn", "reconnecting")

        # Meanwhile the visitor writes (the panel cannot receive it now).
        visitor.say(f"During {tag}")

        cut["refuse"] = False
        expect(banner).to_be_hidden(timeout=30_000)
        expect(page.locator("body")).to_have_attribute("data-conn", "open")
        expect(page.locator(".msg.incoming", has_text=f"During {tag}")).to_have_count(1, timeout=WAIT)
        expect(page.locator(".msg.incoming", has_text=f"Before {tag}")).to_have_count(1)
    finally:
        context.close()
    assert not page.errors, page.errors


def test_thread_header_is_one_row_at_1280(operator_page, visitor_context):
    tag = uuid.uuid4().hex[:8]
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"Header {tag}")
    open_card(operator_page, tag)
    header = operator_page.locator(".thread-header")
    assign = operator_page.get_by_label("Assignee")
    expect(assign).to_be_visible()
    # The conversation the operator works on is theirs: take it if auto-assignment gave it to
    # someone else (or nobody). Unassigned, "Assign to me" joins the actions and they wrap under
    # the title at this width (never cut): docs/frontend.md.
    take = operator_page.get_by_role("button", name="Assign to me")
    if take.is_visible():
        take.click()
    expect(take).to_be_hidden()
    hbox, abox, tbox = header.bounding_box(), assign.bounding_box(), operator_page.locator(".thread-title").bounding_box()
    # One row: the actions sit beside the title, not under it, and nothing is cut.
    assert abox["y"] < tbox["y"] + tbox["height"] and tbox["y"] < abox["y"] + abox["height"], (tbox, abox)
    # The title block carries its label chips on a second line; the actions stay one row.
    assert hbox["height"] < 90, hbox
    assert hbox["x"] <= abox["x"] and abox["x"] + abox["width"] <= hbox["x"] + hbox["width"], (hbox, abox)
    assert hbox["y"] <= abox["y"] and abox["y"] + abox["height"] <= hbox["y"] + hbox["height"], (hbox, abox)
    for control in operator_page.locator(".thread-header .actions > *:visible").all():
        box = control.bounding_box()
        assert box["x"] + box["width"] <= hbox["x"] + hbox["width"] + 0.5, control
    # The secondary actions are one click away.
    operator_page.get_by_test_id("more-actions").locator("summary").click()
    expect(operator_page.get_by_role("button", name="Escalate")).to_be_visible()
    expect(operator_page.get_by_test_id("download-transcript")).to_be_visible()


def test_supervisors_land_on_unassigned_or_all_when_mine_is_empty(browser, messenger_server, admin_api):
    supervisor = _id_of(admin_api, "supervisor")
    mine = admin_api.get("/api/v1/conversations/", params={"assignee": "all", "status": "all"}).json()["results"]
    for conv in mine:
        if conv.get("assignee") and conv["assignee"]["id"] == supervisor:
            admin_api.post(f"/api/v1/conversations/{conv['id']}/assign", json={"assignee_id": None})
    context, page = login(browser, messenger_server, "supervisor", "supervisor-demo-pass")
    try:
        expect(page.get_by_role("tab", name=re.compile("^Mine"))).to_have_attribute("aria-selected", "false")
        unassigned = int(count(page, "unassigned").inner_text())
        landed = "Unassigned" if unassigned else "All"
        expect(page.get_by_role("tab", name=re.compile(f"^{landed}"))).to_have_attribute("aria-selected", "true")
    finally:
        context.close()


@pytest.mark.parametrize("device", ["iPhone 13", "Pixel 7"])
def test_widget_and_demo_page_on_a_phone(browser, messenger_server, demo_inbox, device):
    profile = _DEVICES[device]
    context = browser.new_context(base_url=messenger_server.url, **profile)
    try:
        page = context.new_page()
        page.goto("/demo/")
        width = profile["viewport"]["width"]
        # The host page never scrolls sideways (its snippet wraps).
        assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        assert page.evaluate("() => document.documentElement.clientWidth") == width
        frame = page.frame_locator("iframe[data-messenger]")
        launcher = frame.locator("#launcher")
        expect(launcher).to_be_visible(timeout=WAIT)
        iframe = page.locator("iframe[data-messenger]")
        box = iframe.bounding_box()
        assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= profile["viewport"]["height"]
        launcher.tap()
        expect(frame.locator("#window")).to_be_visible()
        expect(frame.locator("body")).to_have_class(re.compile(r"\bmobile\b"))
        # Open: the frame is the viewport, exactly.
        page.wait_for_function(
            "() => { const r = document.querySelector('iframe[data-messenger]').getBoundingClientRect();"
            " return r.x === 0 && r.y === 0 && r.width === innerWidth && r.height === innerHeight; }")
        close = frame.get_by_role("button", name="Close chat")
        expect(close).to_be_visible()
        expect(frame.get_by_role("textbox", name="Message")).to_be_in_viewport()
        close.tap()
        expect(frame.locator("#window")).to_be_hidden()
        expect(launcher).to_be_in_viewport()
        assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    finally:
        context.close()


# Playwright's descriptors (playwright.devices), on Chromium: size, density, touch, mobile.
_DEVICES = {
    "iPhone 13": {"viewport": {"width": 390, "height": 664}, "device_scale_factor": 3, "is_mobile": True,
                  "has_touch": True},
    "Pixel 7": {"viewport": {"width": 412, "height": 839}, "device_scale_factor": 2.625, "is_mobile": True,
                "has_touch": True},
}


def test_favicon(messenger_server):
    response = httpx.get(f"{messenger_server.url}/favicon.ico", follow_redirects=True)
    assert response.status_code == 200 and response.headers["content-type"] == "image/svg+xml"


def test_a_half_open_widget_socket_recovers_without_losing_a_reply(operator_page, visitor_context):
    tag = uuid.uuid4().hex[:8]
    cut = {"links": [], "refuse": False}

    def route(ws):
        if cut["refuse"]:
            ws.close()
            return
        server = ws.connect_to_server()
        link = {"dead": False}
        cut["links"].append(link)
        ws.on_message(lambda message: None if link["dead"] else server.send(message))
        server.on_message(lambda message: None if link["dead"] else ws.send(message))

    visitor_context.route_web_socket(re.compile(r".*/ws/widget/$"), route)
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"Hello {tag}")
    open_card(operator_page, tag)

    for link in cut["links"]:
        link["dead"] = True
    cut["refuse"] = True
    frame.locator("body").evaluate("() => window.__widget.transport.client.probe()")
    expect(frame.locator("#w-conn")).to_have_text("Reconnecting…", timeout=WAIT)
    composer = operator_page.get_by_role("textbox", name="Message")
    composer.fill(f"Answer while you were away {tag}")
    composer.press("Enter")
    expect(operator_page.locator(".msg.outgoing", has_text=tag).get_by_test_id("delivery")).to_contain_text(
        "sent", timeout=WAIT)

    cut["refuse"] = False
    expect(frame.locator("#w-conn")).to_be_hidden(timeout=30_000)
    expect(frame.locator(".w-msg.theirs", has_text=f"Answer while you were away {tag}")).to_have_count(1, timeout=WAIT)
    expect(frame.locator(".w-msg.mine", has_text=f"Hello {tag}")).to_have_count(1)
