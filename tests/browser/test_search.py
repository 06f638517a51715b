"""The panel's search in Chromium: the server's full-text result set and its message hits."""
from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.test_messenger import WAIT, XSS, open_widget, visitor_send

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_search_finds_a_word_of_an_older_message(operator_page, visitor_context):
    tag = uuid.uuid4().hex[:8]
    word = f"zq{tag}"
    _, frame = open_widget(visitor_context)
    visitor_send(frame, f"my parcel {word} never came {XSS}")
    visitor_send(frame, f"anyone there? {tag}")  # the list's preview no longer shows the word
    card = operator_page.locator(".conv-card", has_text=tag)
    expect(card).to_be_visible(timeout=WAIT)

    operator_page.locator("#search").fill(word)
    # The conversation is listed (only the server knows it matches: the word is not in its
    # preview), alone, and the "Messages" section shows the hit with the word marked.
    expect(operator_page.locator(".conv-card")).to_have_count(1, timeout=WAIT)
    expect(card).to_contain_text(f"anyone there? {tag}")
    hit = operator_page.locator('[data-testid="message-hit"]')
    expect(hit).to_have_count(1, timeout=WAIT)
    expect(hit.locator("mark")).to_have_text(word)
    expect(hit).to_contain_text("my parcel")
    expect(hit).to_contain_text("never came")
    expect(operator_page.locator(".message-hits img")).to_have_count(0)

    operator_page.locator("#search").fill("")
    expect(operator_page.locator('[data-testid="message-hit"]')).to_have_count(0, timeout=WAIT)
    operator_page.locator("#search").fill(word)
    operator_page.locator('[data-testid="message-hit"]').click()
    expect(operator_page.locator(".msg.incoming .msg-text", has_text=word)).to_be_visible(timeout=WAIT)
