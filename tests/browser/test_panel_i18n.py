"""The operator panel in each operator's language (docs/i18n.md), in Chromium: a Russian operator
and an English colleague work on the same conversation; each reads the whole panel (tabs,
buttons, placeholders, statuses, toasts, activity lines, dates) in their own language.

The Russian check is strong on purpose: the visible text of the panel (``innerText``, every
option, placeholder, title and aria-label) contains no English text of the panel's catalogue
entries (the pieces between placeholders with more than three letters), so a string left
hard-coded, or a key missing from ru.js, fails it."""
from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_messenger import WAIT
from tests.test_i18n_catalogues import load_catalogue

pytestmark = [pytest.mark.browser, pytest.mark.live]

PANEL_AREAS = ("common.", "time.", "status.", "priority.", "presence.", "availability.", "activity.", "panel.")
# Shown in English on purpose: the language choice names each language in itself; the names of
# a metric and a file format.
ALLOWED = {"English", "CSAT"}
PHONE = {"width": 390, "height": 844}

RU_NAME, EN_NAME, VISITOR = "Olga Smirnova", "Ed Harris", "Ivan Petrov"


def english_fragments() -> set[str]:
    """The English texts of the panel's entries, cut at their placeholders: Russian never shows
    them (a Russian entry copied from English unchanged fails too, but for ``ALLOWED``)."""
    english = load_catalogue("en")
    fragments = set()
    for key, value in english.items():
        if not key.startswith(PANEL_AREAS):
            continue
        for text in value.values() if isinstance(value, dict) else [value]:
            for piece in re.split(r"\{\w+\}", text):
                piece = piece.strip()
                if len(re.findall(r"[A-Za-z]", piece)) > 3 and piece not in ALLOWED:
                    fragments.add(piece)
    return fragments


@pytest.fixture(scope="module")
def team(admin_api: httpx.Client, demo_inbox: dict) -> dict:
    """An inbox without auto-assignment, a Russian agent and an English supervisor in it."""
    tag = uuid.uuid4().hex[:6]
    response = admin_api.post("/api/v1/inboxes/", json={
        "name": f"Till {tag}", "branch": demo_inbox.get("branch"), "channel_type": "web_widget",
        "enable_auto_assignment": False,
    })
    response.raise_for_status()
    inbox = response.json()
    people = {}
    for who, name, role in (("ru", RU_NAME, "agent"), ("en", EN_NAME, "supervisor")):
        username = f"{who}-{tag}"
        created = admin_api.post("/api/v1/agents/", json={"username": username, "password": f"{username}-pass-1234",
                                                          "name": name, "role": role})
        assert created.status_code == 201, created.text
        people[who] = {"id": created.json()["id"], "username": username, "password": f"{username}-pass-1234"}
    admin_api.post(f"/api/v1/inboxes/{inbox['id']}/members/",
                   json={"user_ids": [p["id"] for p in people.values()]}).raise_for_status()
    return {"inbox": inbox, **people}


def visitor_writes(server_url: str, inbox: dict, text: str) -> int:
    """A visitor starts a conversation (the widget's REST calls); its id."""
    with httpx.Client(base_url=server_url, timeout=10) as client:
        session = client.post("/api/widget/v1/sessions", json={"website_token": inbox["website_token"], "name": VISITOR})
        assert session.status_code == 201, session.text
        token = session.json()["contact_inbox"]["pubsub_token"]
        sent = client.post("/api/widget/v1/messages", headers={"X-Widget-Token": token},
                           json={"content": text, "echo_id": f"e-{uuid.uuid4().hex[:8]}"})
        assert sent.status_code == 201, sent.text
        return sent.json()["conversation_id"]


def sign_in(browser, server, person: dict, *, locale: str, timezone: str):
    """A browser speaking ``locale`` signs in through the login page (never touched before: its
    first login gives the profile the browser's language)."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800},
                                  locale=locale, timezone_id=timezone)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto("/login/?next=/app/")
    page.locator("#id_username").fill(person["username"])
    page.locator("#id_password").fill(person["password"])
    page.locator("button[type=submit]").click()
    expect(page.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
    return context, page


def visible_words(page) -> str:
    """What the operator reads: the rendered text, every option, the attributes people read."""
    return page.evaluate("""() => [
        document.title, document.body.innerText,
        ...[...document.querySelectorAll("option")].map((o) => o.text),
        ...[...document.querySelectorAll("[placeholder], [title], [aria-label], [alt]")].flatMap((el) =>
            ["placeholder", "title", "aria-label", "alt"].map((name) => el.getAttribute(name) || "")),
    ].join("\\n")""")


def without_user_data(text: str, admin_api: httpx.Client) -> str:
    """``text`` without what people of the desk wrote (label names, canned responses: other
    tests on this server create them, in English): those are data, not the panel's words."""
    def rows(path: str) -> list[dict]:
        body = admin_api.get(path).json()
        return body.get("results", []) if isinstance(body, dict) else body

    names = [label["name"] for label in rows("/api/v1/labels/")]
    for item in rows("/api/v1/canned_responses/"):
        names += [item["short_code"], item["content"]]
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, "")
    return text


def test_a_russian_and_an_english_operator_read_the_same_conversation_each_in_their_language(
        browser, messenger_server, team, admin_api):
    tag = uuid.uuid4().hex[:6]
    cid = visitor_writes(messenger_server.url, team["inbox"], f"Hello {tag}")
    # The login page already follows the browser; the first login stores its language.
    ru_context, ru = sign_in(browser, messenger_server, team["ru"], locale="ru-RU", timezone="Europe/Moscow")
    en_context, en = sign_in(browser, messenger_server, team["en"], locale="en-US", timezone="America/New_York")
    try:
        for page in (ru, en):
            page.goto(f"/app/#/conversations/{cid}")
            page.reload()  # only the hash changed: the panel opens the conversation at load
            expect(page.locator(".msg.incoming", has_text=f"Hello {tag}")).to_be_visible(timeout=WAIT)
        expect(ru.locator("html")).to_have_attribute("lang", "ru")
        assert ru.evaluate("() => fetch('/api/v1/profile').then((r) => r.json())")["locale"] == "ru"

        # The English supervisor assigns it to the Russian agent; she acts in turn.
        en.get_by_test_id("assign").select_option(str(team["ru"]["id"]))
        expect(ru.locator(".toast", has_text=f"Вам назначен новый диалог: {VISITOR}")).to_be_visible(timeout=WAIT)
        expect(ru.locator(".activity", has_text=f"Диалог назначен на {RU_NAME} оператором {EN_NAME}")
               ).to_be_visible(timeout=WAIT)
        expect(en.locator(".activity", has_text=f"Assigned to {RU_NAME} by {EN_NAME}")).to_be_visible(timeout=WAIT)
        ru.get_by_test_id("more-actions").locator("summary").click()
        ru.get_by_label("Приоритет").select_option("urgent")
        expect(ru.locator(".activity", has_text=f"Установлен приоритет «срочный» оператором {RU_NAME}")
               ).to_be_visible(timeout=WAIT)
        expect(en.locator(".activity", has_text=f"Priority set to urgent by {RU_NAME}")).to_be_visible(timeout=WAIT)
        ru.get_by_test_id("toggle-status").click()
        expect(ru.get_by_test_id("status")).to_have_text("решён", timeout=WAIT)
        expect(en.get_by_test_id("status")).to_have_text("resolved", timeout=WAIT)
        expect(ru.locator(".activity", has_text=f"Диалог решён оператором {RU_NAME}")).to_be_visible(timeout=WAIT)
        expect(en.locator(".activity", has_text=f"Conversation was resolved by {RU_NAME}")).to_be_visible(timeout=WAIT)
        if not ru.evaluate("() => document.querySelector('.more-menu').open"):  # the click outside closed it
            ru.get_by_test_id("more-actions").locator("summary").click()
        expect(ru.get_by_test_id("download-transcript")).to_have_text("Скачать переписку")

        # Specific words, in their places.
        expect(ru.locator("#tabs [data-tab=mine]")).to_contain_text("Мои")
        expect(ru.locator("#tabs [data-tab=unassigned]")).to_contain_text("Без исполнителя")
        expect(ru.locator("#search")).to_have_attribute("placeholder", "Поиск по имени, почте, сообщениям…")
        expect(ru.locator(".composer button[type=submit]")).to_have_text("Отправить")
        expect(ru.locator("#composer-input")).to_have_attribute("placeholder", re.compile(r"^Ответ…"))
        expect(ru.locator(".day-sep").first).to_have_text("Сегодня")
        expect(ru.locator("#availability option[value=online]")).to_have_text("В сети")
        expect(ru.locator("#contact h3").first).to_have_text("Атрибуты")
        expect(en.locator("#tabs [data-tab=mine]")).to_contain_text("Mine")
        expect(en.locator(".composer button[type=submit]")).to_have_text("Send")
        expect(en.locator(".day-sep").first).to_have_text("Today")
        assert ru.title() == "Диалоги · Мессенджер" and en.title() == "Inbox · Messenger"

        # Nothing English left on the Russian panel, nothing Russian on the English one (but the
        # language choice's own name).
        ru_text = without_user_data(visible_words(ru), admin_api)
        leftovers = sorted(fragment for fragment in english_fragments() if fragment in ru_text)
        assert leftovers == [], leftovers
        assert set(re.findall(r"[А-Яа-яЁё]+", visible_words(en))) == {"Русский"}

        # The language choice applies at once and is saved in the profile.
        ru.locator("#locale-select").select_option("en")
        expect(ru.locator("#tabs [data-tab=mine]")).to_contain_text("Mine", timeout=WAIT)
        expect(ru.locator(".composer button[type=submit]")).to_have_text("Send")
        expect(ru.locator(".activity", has_text=f"Conversation was resolved by {RU_NAME}")).to_be_visible()
        assert ru.evaluate("() => fetch('/api/v1/profile').then((r) => r.json())")["locale"] == "en"
        ru.locator("#locale-select").select_option("ru")
        expect(ru.locator("#tabs [data-tab=mine]")).to_contain_text("Мои", timeout=WAIT)
        expect(ru.locator(".composer button[type=submit]")).to_have_text("Отправить")

        # On a phone the longer Russian words still fit: nothing scrolls sideways.
        phone = ru_context.new_page()
        phone.set_viewport_size(PHONE)
        phone.goto(f"/app/#/conversations/{cid}")
        expect(phone.locator(".activity", has_text=f"Диалог решён оператором {RU_NAME}")).to_be_visible(timeout=WAIT)
        overflow = phone.evaluate("""() => [...document.querySelectorAll(".topbar *, .thread-header *, .composer *")]
            .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== "hidden")
            .map((el) => [el.tagName + "." + el.className, el.getBoundingClientRect().right])
            .filter(([, right]) => right > innerWidth + 1)""")
        assert phone.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        assert overflow == [], overflow

        # Her settings and reports pages speak it too.
        ru.goto("/app/settings/")
        expect(ru.locator("#canned-title")).to_have_text("Шаблоны ответов")
        for table in ("#canned", "#labels"):
            expect(ru.locator(f"{table} tbody tr").first).to_be_visible(timeout=WAIT)
        settings_text = visible_words(ru)
        ru.goto("/app/reports/")
        expect(ru.locator("body")).to_have_attribute("data-report-ready", re.compile(r"\d"), timeout=WAIT)
        expect(ru.get_by_test_id("conversations_opened").locator(".card-label")).to_have_text("Открыто диалогов")
        for text in (without_user_data(settings_text, admin_api), without_user_data(visible_words(ru), admin_api)):
            leftovers = sorted(fragment for fragment in english_fragments() if fragment in text)
            assert leftovers == [], leftovers
        assert not ru.errors and not en.errors, ru.errors + en.errors
    finally:
        ru_context.close()
        en_context.close()
