"""In Chromium: "Download transcript" in the panel's thread header and in the widget's menu
download the conversation (the operator's with the private note marked, the visitor's without it)."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_messenger import WAIT, open_card, open_widget, visitor_send

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_download_transcript_from_the_panel_and_the_widget(operator_page, visitor_context):
    tag = uuid.uuid4().hex[:8]
    page, frame = open_widget(visitor_context)
    visitor_send(frame, f"Question {tag}")
    open_card(operator_page, tag)
    composer = operator_page.get_by_role("textbox", name="Message")
    composer.fill(f"Answer {tag}")
    composer.press("Enter")
    expect(operator_page.locator(".msg.outgoing", has_text=f"Answer {tag}").get_by_test_id("delivery")).to_contain_text("sent", timeout=WAIT)
    operator_page.get_by_role("button", name="Private note").click()
    composer.fill(f"Secret {tag}")
    composer.press("Enter")
    expect(operator_page.locator(".msg.private", has_text=f"Secret {tag}").get_by_test_id("delivery")).to_contain_text("sent", timeout=WAIT)
    expect(frame.locator(".w-msg.theirs", has_text=f"Answer {tag}")).to_be_visible(timeout=WAIT)

    # The panel: a plain link in the thread header's "More" menu.
    operator_page.get_by_test_id("more-actions").locator("summary").click()
    with operator_page.expect_download() as info:
        operator_page.get_by_test_id("download-transcript").click()
    download = info.value
    assert download.suggested_filename.endswith("-transcript.txt")
    text = Path(download.path()).read_text()
    lines = text.splitlines()
    assert any(line.endswith(f": Question {tag}") for line in lines), text
    assert any(line.endswith(f": Answer {tag}") for line in lines), text
    assert any("[note]" in line and line.endswith(f"Secret {tag}") for line in lines), text
    assert lines.index(next(line for line in lines if f"Question {tag}" in line)) < lines.index(
        next(line for line in lines if f"Answer {tag}" in line))

    # The widget: its menu, then "Download transcript" (public messages only).
    frame.get_by_role("button", name="Menu").click()
    with page.expect_download() as info:
        frame.get_by_role("menuitem", name="Download transcript").click()
    download = info.value
    assert download.suggested_filename.endswith("-transcript.txt")
    text = Path(download.path()).read_text()
    assert f"Question {tag}" in text and f"Answer {tag}" in text
    assert f"Secret {tag}" not in text and "[note]" not in text and "[activity]" not in text
