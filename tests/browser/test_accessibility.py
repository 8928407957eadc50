"""Usable without a mouse, every control named, and no sideways scrolling on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

UNNAMED_CONTROLS = """
() => [...document.querySelectorAll('button, input, textarea, select, a[href]')]
  .filter((el) => el.offsetParent !== null || el.closest('dialog[open]'))
  .filter((el) => {
    const labelled = el.labels && el.labels.length > 0;
    const text = (el.getAttribute('aria-label') || el.textContent || '').trim();
    const by = el.getAttribute('aria-labelledby');
    return !(labelled || text || by);
  })
  .map((el) => el.outerHTML.slice(0, 120))
"""


def overflow_x(page: Page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def test_keyboard_only_journey_with_named_controls(site) -> None:  # noqa: ANN001
    grace = site.person("Grace")
    grace.join("quiet-library")
    ada = site.person("Ada")
    page = ada.open_lobby()
    assert page.evaluate(UNNAMED_CONTROLS) == []

    # Tab from the top of the page to the first room's Join button.
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    join = page.locator('.room-card[data-room-id="quiet-library"] .room-join')
    for _ in range(10):
        if join.evaluate("(el) => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(join).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#display-name")).to_be_focused()  # the dialog takes focus
    assert page.evaluate(UNNAMED_CONTROLS) == []
    page.keyboard.type("Ada")
    page.keyboard.press("Enter")
    expect(page.locator("section.room")).to_be_visible()
    assert page.evaluate(UNNAMED_CONTROLS) == []

    # Reach the chat box by keyboard and send with Enter.
    page.locator(".control-audio").focus()
    page.keyboard.press("Enter")  # toolbar buttons work from the keyboard too
    expect(page.locator(".control-audio")).to_have_attribute("aria-pressed", "true")
    for _ in range(20):
        if page.evaluate("() => document.activeElement?.id === 'chat-input'"):
            break
        page.keyboard.press("Tab")
    expect(page.locator("#chat-input")).to_be_focused()
    page.keyboard.type("typed without a mouse")
    page.keyboard.press("Enter")
    expect(grace.page.locator(".chat-text").last).to_have_text("typed without a mouse")
    ada.assert_clean()


def test_phone_layout_has_no_sideways_scrolling(site) -> None:  # noqa: ANN001
    phone = site.person("Mia", viewport={"width": 360, "height": 740})
    page = phone.open_lobby()
    assert overflow_x(page) <= 0
    phone.join("quiet-library")
    phone.toggle("video")
    expect(page.locator(".tile.is-self")).to_have_class(re.compile(r"\bhas-video\b"))
    assert overflow_x(page) <= 0
    box = page.locator(".controls").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360
    phone.assert_clean()
