"""In Chromium: the widget keeps its visitor through a database outage (DESIGN.md §13).

The widget's socket is pointed at a second server process on the same database, reached
through a path the test cuts (tests/faults.py). Its handshakes close 4503 during the outage; the
widget reconnects with backoff, keeps its stored visitor (it used to get 4401, forget the
visitor and start a new one: the conversation was lost), stays on WebSockets, and is back on the
same conversation when the database returns.
"""
from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.test_messenger import WAIT, open_widget, visitor_send
from tests.faults import postgres_path_for
from tests.live import start_server

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def server_behind_a_cut(messenger_server):
    """(server, path): another process of the browser server, on its database through ``path``."""
    url = messenger_server.env["DATABASE_URL"]  # its one test is marked postgres (tests/conftest.py)
    with postgres_path_for(url) as path:
        server = start_server(env={**messenger_server.env, "DATABASE_URL": path.database_url(url)})
        try:
            yield server, path
        finally:
            server.stop()


@pytest.mark.postgres
def test_widget_keeps_its_visitor_through_a_database_outage(visitor_context, server_behind_a_cut):
    server, path = server_behind_a_cut
    tag = uuid.uuid4().hex[:8]
    page, frame = open_widget(visitor_context)
    visitor_send(frame, f"Keep me {tag}")
    body = frame.locator("body")
    visitor = body.evaluate("() => window.__widget.session.source_id")

    path.cut()
    # The socket moves to the server that has lost its database, and records its close codes.
    body.evaluate("""(_, url) => {
        window.__closeCodes = [];
        const client = window.__widget.transport.client;
        const onState = client.opts.onState;
        client.opts.onState = (s, info) => {
            if (info && info.code) window.__closeCodes.push(info.code);
            onState(s, info);
        };
        client.opts.url = url;
        client.drop();
    }""", server.url.replace("http://", "ws://") + "/ws/widget/")
    body.evaluate("""() => new Promise((resolve, reject) => {
        const deadline = Date.now() + 30000;
        const check = () => {
            if (window.__closeCodes.filter((c) => c === 4503).length >= 2) resolve();
            else if (Date.now() > deadline) reject(new Error("close codes: " + window.__closeCodes));
            else setTimeout(check, 50);
        };
        check();
    })""")
    assert 4401 not in body.evaluate("() => window.__closeCodes")
    assert body.evaluate("() => window.__widget.session && window.__widget.session.source_id") == visitor
    stored = body.evaluate("() => JSON.parse(localStorage.getItem(Object.keys(localStorage).find("
                           "(k) => k.startsWith('messenger:') && !k.endsWith(':outbox'))))")
    assert stored and stored["source_id"] == visitor
    expect(body).to_have_attribute("data-transport", "ws")  # a server's 4503 never steps down

    path.restore()
    expect(body).to_have_attribute("data-conn", "open", timeout=30_000)
    assert body.evaluate("() => window.__widget.session.source_id") == visitor
    expect(frame.locator(".w-msg.mine", has_text=f"Keep me {tag}")).to_have_count(1, timeout=WAIT)
    visitor_send(frame, f"Still me {tag}")


def test_a_refused_token_asks_again_for_the_same_visitor(visitor_context):
    """4401 means "this token is refused", not "this visitor is gone": the widget asks the
    sessions endpoint again for the same visitor (source_id) and carries on with the
    conversation; only a refusal of the visitor itself would start a new one."""
    tag = uuid.uuid4().hex[:8]
    page, frame = open_widget(visitor_context)
    visitor_send(frame, f"Same visitor {tag}")
    body = frame.locator("body")
    visitor = body.evaluate("() => window.__widget.session.source_id")
    body.evaluate("""() => {
        window.__widget.session.pubsub_token = "no-longer-valid";
        window.__widget.transport.token = "no-longer-valid";
        window.__widget.transport.drop();
    }""")
    body.evaluate("""() => new Promise((resolve, reject) => {
        const deadline = Date.now() + 15000;
        const check = () => {
            const session = window.__widget.session;
            if (session && session.pubsub_token !== "no-longer-valid") resolve();
            else if (Date.now() > deadline) reject(new Error("no new session"));
            else setTimeout(check, 50);
        };
        check();
    })""")
    assert body.evaluate("() => window.__widget.session.source_id") == visitor
    expect(body).to_have_attribute("data-conn", "open", timeout=WAIT)
    expect(frame.locator(".w-msg.mine", has_text=f"Same visitor {tag}")).to_have_count(1, timeout=WAIT)
