"""The visitor side of the desk in Chromium (DESIGN.md §11): the satisfaction survey, the queue
line, the away header with the out-of-office answer and the email request; desktop and phone.
Each test makes its own inbox through the admin API, so the demo inbox stays as other tests
expect it."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.live]

WAIT = 15_000
PHONE = {"width": 390, "height": 844}


def make_inbox(admin_api, server, **settings) -> dict:
    response = admin_api.post("/api/v1/inboxes/", json={
        "name": f"Desk {uuid.uuid4().hex[:6]}", "channel_type": "web_widget", "allowed_origins": [server.url],
        "greeting": "Hello from the desk", **settings,
    })
    response.raise_for_status()
    return response.json()


def add_agent(admin_api, inbox) -> int:
    agents = admin_api.get("/api/v1/agents/").json()
    rows = agents["results"] if isinstance(agents, dict) else agents
    agent_id = next(a["id"] for a in rows if a.get("username") == "agent")
    admin_api.post(f"/api/v1/inboxes/{inbox['id']}/members/", json={"user_ids": [agent_id]}).raise_for_status()
    return agent_id


def open_widget(context, inbox, viewport=None):
    page = context.new_page()
    if viewport:
        page.set_viewport_size(viewport)
    page.goto(f"/demo/?website_token={inbox['website_token']}")
    frame = page.frame_locator("iframe[data-messenger]")
    frame.locator("#launcher").click()
    expect(frame.locator("#window")).to_be_visible()
    expect(frame.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
    return page, frame


def send(frame, text):
    frame.locator("#w-input").fill(text)
    frame.locator("#w-input").press("Enter")
    expect(frame.locator(".w-msg.mine:not(.pending)", has_text=text)).to_be_visible(timeout=WAIT)


def conversation_id(admin_api, inbox) -> int:
    rows = admin_api.get(f"/api/v1/conversations/?inbox={inbox['id']}&status=all&assignee=all").json()["results"]
    return rows[0]["id"]


def assert_fits(page, locator) -> None:
    """The element is on screen, within the viewport's width."""
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (box, width)


def test_survey_after_resolve_answer_once_thanks_survives_reload_and_operators_see_it(
        admin_api, messenger_server, visitor_context, operator_page):
    inbox = make_inbox(admin_api, messenger_server, csat_survey_enabled=True, enable_auto_assignment=False)
    add_agent(admin_api, inbox)
    operator_page.reload()  # the panel of a member of the new inbox
    expect(operator_page.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
    operator_page.get_by_role("tab", name="All").click()
    tag = uuid.uuid4().hex[:8]
    page, frame = open_widget(visitor_context, inbox, viewport=PHONE)
    send(frame, f"Where is my parcel {tag}?")
    operator_page.locator(".conv-card", has_text=tag).click()  # the thread stays open after the resolve
    conv = conversation_id(admin_api, inbox)
    admin_api.post(f"/api/v1/conversations/{conv}/toggle_status", json={"status": "resolved"}).raise_for_status()

    card = frame.get_by_test_id("csat")
    expect(card).to_be_visible(timeout=WAIT)
    stars = card.locator(".csat-star")
    expect(stars).to_have_count(5)
    # Phone: the five stars sit in one row inside the screen, each big enough to tap.
    boxes = [stars.nth(i).bounding_box() for i in range(5)]
    assert len({round(b["y"]) for b in boxes}) == 1, boxes
    assert all(b["width"] >= 36 and b["height"] >= 36 for b in boxes), boxes
    for i in range(5):
        assert_fits(page, stars.nth(i))
    save_screenshot(page, "widget-csat-phone.png")

    expect(card.get_by_role("button", name="Send")).to_be_disabled()
    card.get_by_role("radio", name="4 of 5: Satisfied").click()
    card.get_by_label("Comment").fill(f"Quick answer {tag}")
    card.get_by_role("button", name="Send").click()
    thanks = card.get_by_test_id("csat-thanks")
    expect(thanks).to_contain_text("Thank you", timeout=WAIT)
    expect(thanks).to_contain_text("★★★★☆")

    # The operator sees the rating as an activity line in the thread, live.
    expect(operator_page.locator(".activity", has_text="★★★★☆")).to_contain_text(f"Quick answer {tag}", timeout=WAIT)
    detail = admin_api.get(f"/api/v1/conversations/{conv}/").json()
    assert detail["csat"] == {"rating": 4, "feedback": f"Quick answer {tag}"}

    # A reload shows the answered survey (state from the server), not a new form.
    page.reload()
    frame = page.frame_locator("iframe[data-messenger]")
    frame.locator("#launcher").click()
    card = frame.get_by_test_id("csat")
    expect(card.get_by_test_id("csat-thanks")).to_contain_text("★★★★☆", timeout=WAIT)
    expect(card.locator(".csat-form")).to_be_hidden()
    page.close()


def test_queue_line_moves_up_as_others_are_served(browser, admin_api, messenger_server, visitor_context):
    inbox = make_inbox(admin_api, messenger_server, enable_auto_assignment=False)
    agent_id = add_agent(admin_api, inbox)
    first_page, first = open_widget(visitor_context, inbox)
    send(first, "First in line")
    expect(first.get_by_test_id("queue-line")).to_have_text("You are next in line", timeout=WAIT)
    first_id = conversation_id(admin_api, inbox)

    other = browser.new_context(base_url=messenger_server.url)
    try:
        page, second = open_widget(other, inbox, viewport=PHONE)
        send(second, "Second in line")
        line = second.get_by_test_id("queue-line")
        expect(line).to_have_text("You are number 2 in line", timeout=WAIT)
        assert_fits(page, line)
        save_screenshot(page, "widget-queue-phone.png")

        # The first is assigned: its line goes, the second moves up (live, no reload).
        admin_api.post(f"/api/v1/conversations/{first_id}/assign", json={"assignee_id": agent_id}).raise_for_status()
        expect(line).to_have_text("You are next in line", timeout=WAIT)
        expect(first.get_by_test_id("queue-line")).to_be_hidden(timeout=WAIT)

        # A reload keeps the place (the session answer and the socket's connect frame).
        page.reload()
        second = page.frame_locator("iframe[data-messenger]")
        second.locator("#launcher").click()
        expect(second.get_by_test_id("queue-line")).to_have_text("You are next in line", timeout=WAIT)
    finally:
        other.close()
    first_page.close()


def test_away_header_out_of_office_once_and_the_email_request(admin_api, messenger_server, visitor_context):
    inbox = make_inbox(
        admin_api, messenger_server, enable_auto_assignment=False, timezone="Europe/Berlin",
        working_hours={"sun": [["00:00", "00:01"]]}, out_of_office_message="We are closed, back on Sunday.",
    )
    page, frame = open_widget(visitor_context, inbox, viewport=PHONE)
    status = frame.locator("#w-status")
    expect(status).to_have_text(re.compile(r"Away — back (at|tomorrow at|\w+ at) \d"), timeout=WAIT)
    # The greeting becomes the out-of-office text: one answer time on screen, not two.
    expect(frame.locator(".greeting")).to_have_text("We are closed, back on Sunday.")
    expect(status).not_to_contain_text("few minutes")

    send(frame, "Hello?")
    send(frame, "Anyone there?")
    answer = frame.locator(".w-msg.theirs:not(.greeting)", has_text="We are closed, back on Sunday.")
    expect(answer).to_have_count(1, timeout=WAIT)

    ask = frame.get_by_test_id("email-request")
    expect(ask).to_be_visible()
    assert_fits(page, ask)
    ask.get_by_label("Your email").fill("not-an-email")
    ask.get_by_role("button", name="Notify me").click()  # the browser's own check stops it
    assert ask.get_by_label("Your email").evaluate("el => el.validity.valid") is False
    ask.get_by_label("Your email").fill("visitor@example.com")
    ask.get_by_role("button", name="Notify me").click()
    expect(ask).to_contain_text("We will answer you at visitor@example.com", timeout=WAIT)
    save_screenshot(page, "widget-away-phone.png")
    conv = conversation_id(admin_api, inbox)
    assert admin_api.get(f"/api/v1/conversations/{conv}/").json()["contact"]["email"] == "visitor@example.com"
    page.close()
