"""The widget in the visitor's language, in Chromium (docs/i18n.md): a phone whose browser prefers
Russian sees the whole widget in Russian — the inbox's greeting and survey question written for
Russian, the composer, the status line, a dated message, a refused message, the queue line and
the survey form — with no English word of the widget's catalogue left in the frame's text. The
same page with ``data-locale="en"`` speaks English, and ``$messenger.setLocale("ru")`` switches
it live.

Each test makes its own inbox through the admin API, so the demo inbox stays as others expect."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import save_screenshot
from tests.test_i18n_catalogues import load_catalogue

pytestmark = [pytest.mark.browser, pytest.mark.live]

WAIT = 15_000
EN, RU = load_catalogue("en"), load_catalogue("ru")
RU_TEXTS = {"greeting": "Здравствуйте! Чем можем помочь?", "csat_question": "Как мы справились сегодня?"}
PHONE = {
    "viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0 Mobile Safari/537.36",
}


def make_inbox(admin_api, server) -> dict:
    response = admin_api.post("/api/v1/inboxes/", json={
        "name": f"Desk {uuid.uuid4().hex[:6]}", "channel_type": "web_widget", "allowed_origins": [server.url],
        "greeting": "Hello from the desk", "csat_question": "How did we do today?", "csat_survey_enabled": True,
        "enable_auto_assignment": False, "translations": {"ru": RU_TEXTS},
    })
    response.raise_for_status()
    return response.json()


def english_fragments() -> set[str]:
    """The English texts of the widget's catalogue keys (widget.*, and the common.* / time.* it
    uses) as they could appear on screen: split at placeholders, at least one word of four
    letters, and not also in the Russian text (a brand name)."""
    found = set()
    for key, value in EN.items():
        if not key.startswith(("widget.", "common.", "time.")):
            continue
        russian = " ".join(RU[key].values()) if isinstance(RU[key], dict) else RU[key]
        for text in value.values() if isinstance(value, dict) else [value]:
            for piece in re.split(r"\{\w+\}", text):
                piece = piece.strip(" ,.:;—()")
                if re.search(r"[A-Za-z]{4,}", piece) and piece not in russian:
                    found.add(piece)
    return found


def open_widget(context, inbox, query=""):
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"/demo/?website_token={inbox['website_token']}{query}")
    frame = page.frame_locator("iframe[data-messenger]")
    frame.locator("#launcher").click()
    expect(frame.locator("#window")).to_be_visible()
    expect(frame.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
    page.errors = errors
    return page, frame


def send(frame, text):
    frame.locator("#w-input").fill(text)
    frame.locator("#w-input").press("Enter")
    expect(frame.locator(".w-msg.mine:not(.pending)", has_text=text)).to_be_visible(timeout=WAIT)


def test_a_russian_phone_sees_the_whole_widget_in_russian(browser, admin_api, messenger_server):
    inbox = make_inbox(admin_api, messenger_server)
    context = browser.new_context(base_url=messenger_server.url, locale="ru-RU", timezone_id="Europe/Moscow", **PHONE)
    try:
        page, frame = open_widget(context, inbox)
        assert frame.locator("html").get_attribute("lang") == "ru"
        expect(frame.locator(".greeting")).to_have_text(RU_TEXTS["greeting"], timeout=WAIT)
        expect(frame.locator("#w-input")).to_have_attribute("placeholder", RU["widget.composer.placeholder"])
        expect(frame.locator("#w-send")).to_have_text(RU["common.send"])
        expect(frame.locator("#w-status .txt")).to_have_text(RU["widget.status.busy"])  # nobody is online
        expect(page.locator("iframe[data-messenger]")).to_have_attribute("title", RU["widget.loader.title"])

        # A message from an earlier day: its day line is a Russian date, its time the 24-hour clock.
        tag = uuid.uuid4().hex[:8]
        send(frame, f"Где мой заказ {tag}?")
        messenger_server.manage("shell", "-c", (
            "from datetime import datetime, UTC; from chat.models import Message; "
            f"Message.objects.filter(content__contains='{tag}').update(created_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC))"))
        page.reload()
        frame = page.frame_locator("iframe[data-messenger]")
        frame.locator("#launcher").click()
        old = frame.locator(".w-msg.mine", has_text=tag)
        expect(old.locator(".w-meta")).to_have_text("13:00", timeout=WAIT)  # Moscow time
        expect(frame.locator(".w-day").first).to_have_text(re.compile(r"^понедельник, 2 марта 2026"))

        # In line: the queue line speaks Russian.
        expect(frame.get_by_test_id("queue-line")).to_have_text(re.compile(f"^{RU['widget.queue.next']}"), timeout=WAIT)

        # A message the server refuses: the error line and the failed bubble.
        frame.locator("#w-input").fill("x" * 150_001)
        frame.locator("#w-input").press("Enter")
        expect(frame.locator("#w-error")).to_have_text(RU["widget.error.content_too_long"], timeout=WAIT)
        failed = frame.locator(".w-msg.failed")
        expect(failed).to_contain_text("не отправлено")
        expect(failed.locator("button.retry")).to_have_text(RU["common.retry"])

        # Resolved: the survey asks the inbox's Russian question, in a Russian form.
        rows = admin_api.get(f"/api/v1/conversations/?inbox={inbox['id']}&status=all&assignee=all").json()["results"]
        admin_api.post(f"/api/v1/conversations/{rows[0]['id']}/toggle_status", json={"status": "resolved"}).raise_for_status()
        card = frame.get_by_test_id("csat")
        expect(card.locator(".w-text")).to_have_text(RU_TEXTS["csat_question"], timeout=WAIT)
        expect(card.get_by_role("radio", name="4 из 5: Хорошо")).to_be_visible()
        expect(card.locator(".csat-feedback")).to_have_attribute("placeholder", RU["widget.csat.feedback_placeholder"])
        expect(card.locator(".csat-send")).to_have_text(RU["common.send"])
        expect(frame.locator(".w-day", has_text=RU["widget.resolved"])).to_be_visible()
        save_screenshot(page, "widget-russian-phone.png")

        text = frame.locator("body").inner_text()
        left = sorted(fragment for fragment in english_fragments() if fragment in text)
        assert left == [], left
        assert "Hello from the desk" not in text and "How did we do today?" not in text

        # The line a longer queue shows, through the widget's own code: Russian plurals.
        lines = frame.locator("body").evaluate("""async () => {
            const desk = await import("/static/frontend/widget/desk.js");
            const line = (position, seconds) => {
                desk.renderQueue({ queue: { position, expected_wait_seconds: seconds }, conversation: null });
                return document.getElementById("w-queue").textContent;
            };
            return [line(3, 240), line(2, 300), line(1, 60), line(7, 21 * 60)];
        }""")
        assert lines == ["Ваш номер в очереди: 3, примерно 4 минуты", "Ваш номер в очереди: 2, примерно 5 минут",
                         "Ваша очередь следующая, примерно 1 минута", "Ваш номер в очереди: 7, примерно 21 минута"]
        assert page.errors == []
    finally:
        context.close()


def test_data_locale_en_speaks_english_and_set_locale_switches_live(browser, admin_api, messenger_server):
    inbox = make_inbox(admin_api, messenger_server)
    context = browser.new_context(base_url=messenger_server.url, locale="ru-RU", viewport={"width": 1280, "height": 800})
    try:
        page, frame = open_widget(context, inbox, query="&locale=en")
        assert frame.locator("html").get_attribute("lang") == "en"
        expect(frame.locator(".greeting")).to_have_text("Hello from the desk", timeout=WAIT)
        expect(frame.locator("#w-input")).to_have_attribute("placeholder", EN["widget.composer.placeholder"])
        expect(frame.locator("#w-send")).to_have_text("Send")
        expect(frame.locator("#w-status .txt")).to_have_text(EN["widget.status.busy"])
        tag = uuid.uuid4().hex[:8]
        send(frame, f"Where is my order {tag}?")
        expect(frame.locator(".w-day").first).to_have_text("Today")
        expect(frame.get_by_test_id("queue-line")).to_have_text(re.compile(f"^{EN['widget.queue.next']}"), timeout=WAIT)

        # The site switches the widget to Russian: everything is rendered again, the server told.
        with page.expect_response(lambda r: "/api/widget/v1/sessions" in r.url and r.ok):
            page.evaluate("() => window.$messenger.setLocale('ru')")
        expect(frame.locator("html")).to_have_attribute("lang", "ru")
        expect(frame.locator("#w-input")).to_have_attribute("placeholder", RU["widget.composer.placeholder"])
        expect(frame.locator("#w-send")).to_have_text(RU["common.send"])
        expect(frame.locator(".greeting")).to_have_text(RU_TEXTS["greeting"], timeout=WAIT)
        expect(frame.locator(".w-day").first).to_have_text(RU["time.today"])
        expect(frame.get_by_test_id("queue-line")).to_have_text(re.compile(f"^{RU['widget.queue.next']}"))
        expect(page.locator("iframe[data-messenger]")).to_have_attribute("title", RU["widget.loader.title"])
        # The server now knows the visitor reads Russian: the survey it sends asks in Russian.
        rows = admin_api.get(f"/api/v1/conversations/?inbox={inbox['id']}&status=all&assignee=all").json()["results"]
        expect(frame.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
        admin_api.post(f"/api/v1/conversations/{rows[0]['id']}/toggle_status", json={"status": "resolved"}).raise_for_status()
        history = admin_api.get(f"/api/v1/conversations/{rows[0]['id']}/messages/").json()["results"]
        assert [m["content"] for m in history if m["content_type"] == "input_csat"] == [RU_TEXTS["csat_question"]]
        expect(frame.get_by_test_id("csat").locator(".w-text")).to_have_text(RU_TEXTS["csat_question"], timeout=WAIT)
        assert page.errors == []
    finally:
        context.close()
