"""frontend/static/frontend/shared/i18n.js in Chromium: Russian and English plurals through
Intl.PluralRules, "today"/"yesterday" in the reader's time zone, the language choice, and
activity lines rendered exactly as the server renders them (chat/activity.py) in both languages.

The static files are served by a small thread (ES modules need HTTP), not the live messenger."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chat.activity import ActivityKind, activity_data, render_activity
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

STATIC = Path(__file__).resolve().parents[2] / "frontend/static"
PAGE = b"<!doctype html><meta charset=utf-8><title>i18n</title><body></body>"


class StaticHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def do_GET(self) -> None:
        if self.path == "/":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)
            return
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def static_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(StaticHandler, directory=str(STATIC)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def page(static_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        # The browser's own zone and languages differ from what the tests set, on purpose.
        context = browser.new_context(timezone_id="America/New_York", locale="de-DE")
        page = context.new_page()
        page.goto(static_url + "/")
        page.evaluate("async () => { window.i18n = await import('/frontend/shared/i18n.js'); }")
        yield page
        context.close()
        browser.close()


def run(page, script: str, arg=None):
    return page.evaluate(f"(arg) => {{ const i = window.i18n; {script} }}", arg)


def test_russian_and_english_plurals(page):
    counts = [0, 1, 2, 3, 5, 11, 21, 22, 25, 101, 1.5]
    russian = run(page, 'i.setLocale("ru"); return arg.map((count) => i.t("common.messages_count", { count }));', counts)
    assert russian == ["0 сообщений", "1 сообщение", "2 сообщения", "3 сообщения", "5 сообщений", "11 сообщений",
                       "21 сообщение", "22 сообщения", "25 сообщений", "101 сообщение", "1.5 сообщения"]
    english = run(page, 'i.setLocale("en"); return arg.map((count) => i.t("common.messages_count", { count }));', counts)
    assert english[:3] == ["0 messages", "1 message", "2 messages"]
    assert run(page, 'i.setLocale("ru"); return document.documentElement.lang;') == "ru"


def test_today_and_yesterday_in_the_readers_time_zone(page):
    # 10:00 UTC on 3 December = 13:00 in Moscow. 22:30 UTC the evening before is already
    # 3 December in Moscow ("today") but still 2 December in UTC ("yesterday").
    now = "2026-12-03T10:00:00Z"
    cases = ["2026-12-03T09:00:00Z", "2026-12-02T22:30:00Z", "2026-12-02T12:00:00Z", "2026-11-20T12:00:00Z"]
    script = """
        const [zone, locale, now, cases] = arg;
        i.setLocale(locale); i.setTimeZone(zone);
        return cases.map((iso) => i.formatDay(iso, { now: new Date(now) }));
    """
    moscow_ru = run(page, script, ["Europe/Moscow", "ru", now, cases])
    assert moscow_ru[:3] == ["Сегодня", "Сегодня", "Вчера"]
    assert "20 ноября 2026" in moscow_ru[3]
    utc_en = run(page, script, ["UTC", "en", now, cases])
    assert utc_en[:3] == ["Today", "Yesterday", "Yesterday"]
    assert "November 20, 2026" in utc_en[3]
    # Times in the reader's zone too: 09:00 UTC is 12:00 in Moscow.
    assert run(page, 'i.setLocale("ru"); i.setTimeZone("Europe/Moscow"); return i.formatTime(arg);',
               "2026-12-03T09:00:00Z") == "12:00"


def test_the_language_choice(page):
    choose = 'return i.chooseLocale(arg);'
    assert run(page, choose, {"explicit": "ru", "embed": "en", "languages": ["en"]}) == "ru"
    assert run(page, choose, {"embed": "ru-RU", "languages": ["en-US"]}) == "ru"
    assert run(page, choose, {"languages": ["de-DE", "ru", "en"]}) == "ru"
    assert run(page, choose, {"languages": ["de-DE"], "fallback": "ru"}) == "ru"
    assert run(page, choose, {"languages": ["de-DE"]}) == "en"
    assert run(page, 'return i.setLocale("xx");') == "en"
    # Missing keys are visible, and unknown placeholders never read "undefined".
    assert run(page, 'i.setLocale("ru"); return [i.t("no.such.key"), i.t("panel.thread.me", {})];') == [
        "no.such.key", "{name} (я)"]


SAMPLES = [
    activity_data(ActivityKind.ASSIGNED, actor={"type": "user", "id": 1, "name": "Bob"}, assignee={"id": 2, "name": "Ann"}),
    activity_data(ActivityKind.AUTO_ASSIGNED, assignee={"id": 2, "name": "Ann"}),
    activity_data(ActivityKind.RESOLVED, actor={"type": "user", "id": 1, "name": "Bob"}),
    activity_data(ActivityKind.REOPENED, actor={"type": "contact", "id": 9, "name": "Ivan"}),
    activity_data(ActivityKind.REOPENED, actor={"type": "contact", "id": 9, "name": ""}),
    activity_data(ActivityKind.PENDING),
    activity_data(ActivityKind.SNOOZE_ENDED),
    activity_data(ActivityKind.SNOOZED_UNTIL_REPLY, actor={"type": "user", "id": 1, "name": "Bob"}),
    activity_data(ActivityKind.PRIORITY_CHANGED, actor={"type": "user", "id": 1, "name": "Bob"}, priority="urgent"),
    activity_data(ActivityKind.UNASSIGNED, actor={"type": "user", "id": 1, "name": "Bob"}),
    *(activity_data(kind, assignee={"id": 2, "name": "Ann"}, minutes=minutes)
      for kind in (ActivityKind.RELEASED_DEACTIVATED, ActivityKind.RELEASED_REMOVED, ActivityKind.RELEASED_NOT_MEMBER,
                   ActivityKind.RELEASED_OFFLINE) for minutes in (1, 3, 5)),
    activity_data(ActivityKind.ESCALATED),
    activity_data(ActivityKind.ESCALATED, actor={"type": "user", "id": 1, "name": "Bob"}),
    activity_data(ActivityKind.ESCALATED_ASSIGNED, actor={"type": "user", "id": 1, "name": "Bob"},
                  assignee={"id": 3, "name": "Sue"}),
    activity_data(ActivityKind.ESCALATED_NO_SUPERVISOR),
    activity_data(ActivityKind.ACCEPTED_OFFER, actor={"type": "user", "id": 2, "name": "Ann"},
                  assignee={"id": 2, "name": "Ann"}),
    activity_data(ActivityKind.LABELS_CHANGED, actor={"type": "user", "id": 1, "name": "Bob"},
                  added=["vip", "refund"], removed=["spam"]),
    activity_data(ActivityKind.LABELS_CHANGED, removed=["vip"]),
]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_activity_lines_read_the_same_in_the_browser_as_on_the_server(page, language):
    samples = json.loads(json.dumps(SAMPLES))  # as the browser receives them
    rendered = run(page, 'i.setLocale(arg[0]); return arg[1].map((a) => i.renderActivity(a, "stored"));',
                   [language, samples])
    assert rendered == [render_activity(sample, language) for sample in samples]
    # Every kind is covered by the samples but the snooze (its time is in the reader's zone).
    assert {s["kind"] for s in samples} == {str(k) for k in ActivityKind} - {"snoozed"}


def test_snooze_line_shows_the_time_in_the_readers_zone_and_unknown_kinds_fall_back(page):
    data = activity_data(ActivityKind.SNOOZED, actor={"type": "user", "id": 1, "name": "Bob"},
                         until="2026-12-03T17:00:00Z")
    line = run(page, 'i.setLocale("ru"); i.setTimeZone("Europe/Moscow"); return i.renderActivity(arg);', data)
    assert line.startswith("Диалог отложен до ") and "20:00" in line and line.endswith(" оператором Bob")
    assert run(page, 'return i.renderActivity({kind: "labels_added"}, "Labels: vip");') == "Labels: vip"
    message = {"direction": "activity", "content": "Conversation was resolved by Bob",
               "content_attributes": {"activity": activity_data(ActivityKind.RESOLVED, actor={"type": "user", "id": 1,
                                                                                            "name": "Bob"})}}
    assert run(page, 'i.setLocale("ru"); return i.messageText(arg);', message) == "Диалог решён оператором Bob"


def test_loader_passes_the_snippets_data_locale_to_the_frame(page, static_url):
    """widget.js (loader.js): data-locale reaches the frame as ?locale=; $messenger.setLocale exists."""
    page = page.context.new_page()
    page.goto(static_url + "/")
    page.evaluate("""(src) => new Promise((resolve) => {
        const script = document.createElement("script");
        script.src = src;
        script.dataset.websiteToken = "tok";
        script.dataset.locale = "ru";
        script.onload = resolve;
        document.body.appendChild(script);
    })""", static_url + "/frontend/widget/loader.js")
    src = page.evaluate('document.querySelector("iframe[data-messenger]").src')
    assert src.startswith(static_url + "/widget/frame/?website_token=tok&transport=auto&locale=ru")
    assert page.evaluate("typeof window.$messenger.setLocale") == "function"
    page.close()
