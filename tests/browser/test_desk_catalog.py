"""Labels and canned responses in Chromium (docs/desk.md): the composer's picker, the label
editor and chips (live in a second operator's panel), the list's label filter, the settings page."""
from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login, save_screenshot
from tests.browser.test_messenger import WAIT, XSS, open_card, open_widget, visitor_send

pytestmark = [pytest.mark.browser, pytest.mark.live]


def _created(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


def test_canned_picker_filters_moves_and_inserts(operator_page, visitor_context, admin_api: httpx.Client, demo_inbox):
    tag = uuid.uuid4().hex[:6]
    # A global and an inbox response share a code: the inbox's wins in the picker.
    _created(admin_api.post("/api/v1/canned_responses/", json={"short_code": f"ref{tag}", "content": "GLOBAL refund text"}))
    _created(admin_api.post("/api/v1/canned_responses/", json={
        "short_code": f"ref{tag}", "content": f"Your refund is on its way {XSS}", "inbox": demo_inbox["id"]}))
    _created(admin_api.post("/api/v1/canned_responses/", json={
        "short_code": f"ref{tag}-late", "content": "Refunds take 3 days."}))
    _created(admin_api.post("/api/v1/canned_responses/", json={"short_code": f"hello{tag}", "content": "Hi there!"}))
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"Where is my money {tag}")
    open_card(operator_page, tag)

    composer = operator_page.locator("#composer-input")
    composer.fill(f"/ref{tag}")
    picker = operator_page.get_by_test_id("canned-picker")
    options = picker.get_by_test_id("canned-option")
    expect(options).to_have_count(2, timeout=WAIT)
    expect(options.nth(0)).to_contain_text(f"/ref{tag}")
    expect(options.nth(0)).to_contain_text("Your refund is on its way <img")  # markup shown as text
    expect(picker.locator("img")).to_have_count(0)
    expect(picker).not_to_contain_text("GLOBAL")
    expect(options.nth(0)).to_have_class("canned-option active")
    save_screenshot(operator_page, "canned-picker.png")

    # Arrow keys move; Enter inserts the content in place of "/query" (and sends nothing).
    composer.press("ArrowDown")
    expect(options.nth(1)).to_have_class("canned-option active")
    composer.press("ArrowDown")
    expect(options.nth(0)).to_have_class("canned-option active")
    composer.press("ArrowUp")
    composer.press("Enter")
    expect(composer).to_have_value("Refunds take 3 days.")
    expect(picker).to_be_hidden()
    expect(operator_page.locator(".msg.outgoing", has_text="Refunds take 3 days.")).to_have_count(0)

    # Escape closes; Tab inserts; a click inserts.
    composer.fill(f"/hello{tag}")
    expect(options).to_have_count(1, timeout=WAIT)
    composer.press("Escape")
    expect(picker).to_be_hidden()
    expect(composer).to_have_value(f"/hello{tag}")
    composer.fill("")
    composer.type("/ref")
    composer.type(tag)
    expect(options).to_have_count(2, timeout=WAIT)
    composer.press("Tab")
    expect(composer).to_have_value(f"Your refund is on its way {XSS}")
    composer.fill(f"/HELLO{tag}")  # case-insensitive
    expect(options).to_have_count(1, timeout=WAIT)
    options.first.click()
    expect(composer).to_have_value("Hi there!")
    expect(composer).to_be_focused()
    # Enter now sends the inserted text as the reply.
    composer.press("Enter")
    expect(operator_page.locator(".msg.outgoing .msg-text", has_text="Hi there!")).to_be_visible(timeout=WAIT)
    expect(frame.locator(".w-msg", has_text="Hi there!")).to_be_visible(timeout=WAIT)


def test_label_editor_chips_live_and_filter(browser, messenger_server, operator_page, visitor_context,
                                           admin_api: httpx.Client):
    tag = uuid.uuid4().hex[:6]
    vip = _created(admin_api.post("/api/v1/labels/", json={"name": f"VIP-{tag}", "color": "#aa0000",
                                                          "description": XSS}))
    _created(admin_api.post("/api/v1/labels/", json={"name": f"refund-{tag}", "color": "#ffee00"}))
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"Label me {tag}")
    card = open_card(operator_page, tag)

    context, admin = login(browser, messenger_server, "admin", "admin-demo-pass")
    try:
        admin.get_by_role("tab", name="All").click()
        admin_card = admin.locator(".conv-card", has_text=tag)
        expect(admin_card).to_be_visible(timeout=WAIT)

        operator_page.get_by_test_id("edit-labels").click()
        editor = operator_page.get_by_test_id("label-editor")
        expect(editor).to_be_visible()
        editor.get_by_test_id("label-search").fill(tag)
        editor.locator(f'input[data-label="vip-{tag}"]').check()
        editor.locator(f'input[data-label="refund-{tag}"]').check()
        expect(editor.locator(".label-selected").get_by_test_id("label-chip")).to_have_text(
            [f"refund-{tag}", f"vip-{tag}"])
        save_screenshot(operator_page, "label-editor.png")
        editor.get_by_test_id("label-apply").click()
        expect(editor).to_be_hidden(timeout=WAIT)

        header_chips = operator_page.get_by_test_id("thread-labels").get_by_test_id("label-chip")
        expect(header_chips).to_have_text([f"refund-{tag}", f"vip-{tag}"], timeout=WAIT)
        expect(card.get_by_test_id("label-chip")).to_have_count(2)
        chip = card.locator(f'[data-label="vip-{tag}"]')
        expect(chip).to_have_css("background-color", "rgb(170, 0, 0)")
        expect(chip).to_have_attribute("title", XSS)  # the description is an attribute value, as text
        expect(operator_page.locator(".activity", has_text=f"Labels: +refund-{tag} +vip-{tag} by Ann Agent")
               ).to_be_visible(timeout=WAIT)
        # The other operator's panel follows live.
        expect(admin_card.get_by_test_id("label-chip")).to_have_text([f"refund-{tag}", f"vip-{tag}"], timeout=WAIT)

        # The list filter (the server's ?label= and live changes).
        admin.get_by_label("Label", exact=True).select_option(f"vip-{tag}")
        expect(admin.locator(".conv-card")).to_have_count(1, timeout=WAIT)
        expect(admin_card).to_be_visible()

        # Removing a label elsewhere (REST) updates both panels; deleting one too.
        conversation_id = int(card.get_attribute("data-id"))
        response = admin_api.post(f"/api/v1/conversations/{conversation_id}/labels", json={"labels": [f"vip-{tag}"]})
        assert response.status_code == 200, response.text
        expect(card.get_by_test_id("label-chip")).to_have_text([f"vip-{tag}"], timeout=WAIT)
        assert admin_api.delete(f"/api/v1/labels/{vip['id']}/").status_code == 204
        expect(card.get_by_test_id("label-chip")).to_have_count(0, timeout=WAIT)
        expect(admin.locator(".conv-card", has_text=tag)).to_have_count(0, timeout=WAIT)  # filtered out live
    finally:
        context.close()


def test_settings_page_manages_canned_responses_and_labels(browser, messenger_server):
    tag = uuid.uuid4().hex[:6]
    context, page = login(browser, messenger_server, "admin", "admin-demo-pass")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.get_by_test_id("settings-link").click()
        expect(page).to_have_url(f"{messenger_server.url}/app/settings/")
        canned = page.locator("#canned-section")
        canned.get_by_test_id("new-response").click()
        form = canned.get_by_test_id("response-form")
        form.get_by_label("Short code").fill(f"Thanks{tag}")
        form.get_by_label("Content").fill(f"Thank you! {XSS}")
        form.get_by_role("button", name="Create response").click()
        row = canned.get_by_test_id("response-row").filter(has_text=f"/thanks{tag}")
        expect(row).to_be_visible(timeout=WAIT)
        expect(row).to_contain_text(f"Thank you! {XSS}")
        expect(canned.locator("img")).to_have_count(0)

        # A duplicate code in the same scope: the server's message by the field.
        canned.get_by_test_id("new-response").click()
        form.get_by_label("Short code").fill(f"THANKS{tag}")
        form.get_by_label("Content").fill("again")
        form.get_by_role("button", name="Create response").click()
        expect(form.locator('[data-error="short_code"]')).to_have_text("Already used in the global responses.")
        form.get_by_label("Short code").fill("has space")
        form.get_by_role("button", name="Create response").click()
        expect(form.locator('[data-error="short_code"]')).to_contain_text("no spaces")
        form.get_by_role("button", name="Cancel").click()

        row.get_by_test_id("edit").click()
        form.get_by_label("Content").fill("Thanks a lot.")
        form.get_by_role("button", name="Save changes").click()
        expect(row).to_contain_text("Thanks a lot.", timeout=WAIT)
        row.get_by_test_id("delete").click()
        row.get_by_test_id("delete").click()  # confirm
        expect(canned.get_by_test_id("response-row").filter(has_text=f"/thanks{tag}")).to_have_count(0, timeout=WAIT)

        labels = page.locator("#labels-section")
        labels.get_by_test_id("new-label").click()
        label_form = labels.get_by_test_id("label-form")
        label_form.get_by_label("Name").fill(f" Urgent-{tag} ")
        label_form.get_by_label("Description").fill("Answer first")
        label_form.get_by_role("button", name="Create label").click()
        expect(labels.get_by_test_id("label-row").filter(has_text=f"urgent-{tag}")).to_be_visible(timeout=WAIT)
        labels.get_by_test_id("new-label").click()
        label_form.get_by_label("Name").fill("<b>bold</b>")
        label_form.get_by_role("button", name="Create label").click()
        expect(label_form.locator('[data-error="name"]')).to_contain_text("Only letters")
        save_screenshot(page, "settings.png")

        # A phone-sized window still shows the rows and the actions.
        page.set_viewport_size({"width": 390, "height": 800})
        expect(labels.get_by_test_id("label-row").filter(has_text=f"urgent-{tag}").get_by_test_id("edit")
               ).to_be_visible()
        assert not errors, errors
    finally:
        context.close()


def test_agents_see_the_settings_read_only(browser, messenger_server, admin_api: httpx.Client):
    tag = uuid.uuid4().hex[:6]
    _created(admin_api.post("/api/v1/canned_responses/", json={"short_code": f"ro{tag}", "content": "read only"}))
    context, page = login(browser, messenger_server, "agent", "agent-demo-pass")
    try:
        page.goto("/app/settings/")
        canned = page.locator("#canned-section")
        canned.get_by_role("searchbox").fill(f"ro{tag}")
        expect(canned.get_by_test_id("response-row")).to_have_count(1, timeout=WAIT)
        expect(page.get_by_test_id("new-response")).to_have_count(0)
        expect(page.get_by_test_id("edit")).to_have_count(0)
    finally:
        context.close()


def test_picker_and_label_editor_fit_a_phone(browser, messenger_server, visitor_context, admin_api: httpx.Client,
                                             operator_state):
    tag = uuid.uuid4().hex[:6]
    _created(admin_api.post("/api/v1/labels/", json={"name": f"phone-{tag}"}))
    _created(admin_api.post("/api/v1/canned_responses/", json={"short_code": f"ph{tag}", "content": "From a phone"}))
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"Phone check {tag}")
    context = browser.new_context(base_url=messenger_server.url, storage_state=operator_state,
                                  viewport={"width": 390, "height": 780})
    try:
        page = context.new_page()
        page.goto("/app/")
        expect(page.locator("body")).to_have_attribute("data-conn", "open", timeout=WAIT)
        page.get_by_role("tab", name="All").click()
        open_card(page, tag)
        page.get_by_test_id("edit-labels").click()
        editor = page.get_by_test_id("label-editor")
        editor.get_by_test_id("label-search").fill(tag)
        editor.locator(f'input[data-label="phone-{tag}"]').check()
        expect(editor.get_by_test_id("label-apply")).to_be_in_viewport()
        editor.get_by_test_id("label-apply").click()
        expect(page.get_by_test_id("thread-labels").get_by_test_id("label-chip")).to_have_text([f"phone-{tag}"],
                                                                                              timeout=WAIT)
        composer = page.locator("#composer-input")
        composer.fill(f"/ph{tag}")
        option = page.get_by_test_id("canned-option")
        expect(option).to_have_count(1, timeout=WAIT)
        expect(option).to_be_in_viewport()
        save_screenshot(page, "canned-picker-phone.png")
        option.click()
        expect(composer).to_have_value("From a phone")
    finally:
        context.close()
