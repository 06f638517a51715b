"""The Reports page in Chromium: charts drawn (uPlot canvases), cards and the per-agent table
showing the API's figures, CSV links, the 30-day preset, agents' own row, a phone viewport."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, login, save_screenshot
from tests.browser.test_messenger import WAIT

pytestmark = [pytest.mark.browser, pytest.mark.live]


def days_window(page, days: int) -> dict[str, str]:
    """The page's period: calendar days in the browser's zone, sent as tz=."""
    tz = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    today = datetime.now(ZoneInfo(tz)).date()
    return {"since": (today - timedelta(days=days - 1)).isoformat(), "until": today.isoformat(), "tz": tz}


def open_reports(browser, server: LiveServer, username: str, password: str):
    context, page = login(browser, server, username, password)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.get_by_role("link", name="Reports").click()
    expect(page).to_have_url(f"{server.url}/app/reports/")
    expect(page.locator("body")).to_have_attribute("data-report-ready", re.compile(r"\d"), timeout=WAIT)
    return context, page, errors


def cell_texts(page, agent_id: int) -> list[str]:
    return page.locator(f'#agents-table tr[data-agent-id="{agent_id}"] > *').all_inner_texts()


def test_reports_page_draws_the_api_figures(browser, messenger_server, admin_api: httpx.Client, demo_inbox):
    # Known activity in the window: a visitor writes, the administrator replies twice.
    session = httpx.post(f"{messenger_server.url}/api/widget/v1/sessions",
                         json={"website_token": "demo-website-token"}, headers={"Origin": messenger_server.url})
    token = session.json()["contact_inbox"]["pubsub_token"]
    sent = httpx.post(f"{messenger_server.url}/api/widget/v1/messages", json={"content": "report me", "echo_id": "r1"},
                      headers={"X-Widget-Token": token, "Origin": messenger_server.url})
    conversation_id = sent.json()["conversation_id"]
    for n in range(2):
        admin_api.post(f"/api/v1/conversations/{conversation_id}/messages/",
                       json={"content": f"reply {n}", "echo_id": f"rr{n}"}).raise_for_status()

    context, page, errors = open_reports(browser, messenger_server, "admin", "admin-demo-pass")
    try:
        expect(page.locator(".report-chart canvas")).to_have_count(3)
        for metric in ("conversations_opened", "messages_incoming", "first_response_seconds"):
            expect(page.locator(f'.report-chart[data-metric="{metric}"]')).to_have_attribute("data-points", "7")
        window = days_window(page, 7)
        summary = admin_api.get("/api/v1/reports/summary", params=window).json()
        assert summary["messages_outgoing"] >= 2
        for key in ("conversations_opened", "messages_incoming", "messages_outgoing"):
            expect(page.locator(f'[data-testid="{key}"] .card-value')).to_have_text(f"{summary[key]:,}")
        agents = admin_api.get("/api/v1/reports/agents", params=window).json()["results"]
        expect(page.locator("#agents-table tbody tr")).to_have_count(len(agents))
        admin_row = next(row for row in agents if row["name"] == "Ada Admin")
        assert admin_row["messages_sent"] >= 2
        for row in agents:
            texts = cell_texts(page, row["id"])
            assert texts[:4] == [row["name"], str(row["conversations_assigned"]), str(row["conversations_resolved"]),
                                 str(row["messages_sent"])], texts
        save_screenshot(page, "reports.png")
        csv_link = page.locator("#csv-agents")
        response = page.request.get(csv_link.get_attribute("href"))
        assert response.headers["content-type"].startswith("text/csv")
        assert response.text().splitlines()[0].startswith("id,name,conversations_assigned")

        page.locator("#range-preset").select_option("30")
        expect(page.locator('.report-chart[data-metric="messages_incoming"]')).to_have_attribute("data-points", "30",
                                                                                                 timeout=WAIT)
        page.locator("#range-preset").select_option("custom")
        today = window["until"]
        page.locator("#range-from").fill(today)
        page.locator("#range-to").fill(today)
        page.locator("#range-to").dispatch_event("change")
        # One day: hourly buckets.
        expect(page.locator('.report-chart[data-metric="conversations_opened"]')).to_have_attribute(
            "data-points", "24", timeout=WAIT)

        page.set_viewport_size({"width": 390, "height": 844})
        expect(page.locator(".report-chart canvas")).to_have_count(3)
        wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1).map(e => e.tagName + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right)).slice(0, 15)""")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), wide
        assert not errors, errors
    finally:
        context.close()


def test_an_agent_sees_only_their_own_row(browser, messenger_server, demo_inbox):
    context, page, errors = open_reports(browser, messenger_server, "agent", "agent-demo-pass")
    try:
        rows = page.locator("#agents-table tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first.locator("th")).to_have_text("Ann Agent")
        expect(page.locator(".report-chart canvas")).to_have_count(3)
        assert not errors, errors
    finally:
        context.close()
