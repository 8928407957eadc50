"""Usable without a mouse, every control named, and no sideways scrolling on a phone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.people import assert_clean

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


AXE = Path(__file__).resolve().parents[1] / "node" / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page) -> list[str]:
    """axe-core (npm, tests/node) run in the page; violations as 'rule: targets'."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        assert AXE.exists(), f"{AXE} missing: run `make node-deps`"
        # Evaluated through the DevTools protocol, which the page's CSP does not govern.
        page.evaluate(AXE.read_text() + "\n;true")
    found = page.evaluate("""async () => {
      const result = await axe.run(document, { resultTypes: ['violations'] });
      return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    }""")
    return found


def assert_axe_clean(page: Page, state: str) -> None:
    found = axe_violations(page)
    assert found == [], f"axe-core in {state}: {found}"


def test_axe_core_finds_nothing_in_any_state(site_factory) -> None:  # noqa: ANN001
    site = site_factory(limits={"chat_per_minute": 2, "chat_block_s": 30})
    grace = site.person("Grace")
    grace.join("quiet-library")
    ada = site.person("Ada")
    page = ada.open_lobby()
    assert_axe_clean(page, "the lobby")
    ada.open_join("quiet-library")
    page.locator("#prejoin-video").check()
    page.wait_for_function("() => document.querySelector('.prejoin-video').videoWidth > 0")
    assert_axe_clean(page, "the join dialog with a camera preview")
    page.fill("#display-name", "Ada")
    page.locator(".join-form button[type=submit]").click()
    expect(page.locator("section.room")).to_be_visible(timeout=15000)
    expect(page.locator(".tile")).to_have_count(2)
    assert_axe_clean(page, "the room")
    grace.toggle("audio")
    ada.say("hello")
    grace.say("hi Ada")
    expect(page.locator(".chat-message")).to_have_count(2)
    ada.say("a second one")
    expect(page.locator(".chat-message")).to_have_count(3)
    ada.say("a third one")  # over the limit of two a minute
    expect(page.locator("#chat-feedback")).to_contain_text("faster than the room allows")
    assert_axe_clean(page, "the room with chat, a microphone on and a rate-limit message")
    page.locator(".control-devices").click()
    expect(page.locator("#device-panel")).to_be_visible()
    page.locator(".control-layout").click()
    expect(page.locator(".tile.is-focus")).to_have_count(1)
    assert_axe_clean(page, "speaker view with the device panel open")

    # The tab that lost its seat to another tab.
    second = ada.new_page()
    second.goto("/#/room/quiet-library")
    second.locator(".join-form button[type=submit]").click()
    expect(second.locator(".use-here")).to_be_visible()
    assert_axe_clean(second, "the second tab's question")
    second.locator(".use-here").click()
    expect(page.locator(".moved")).to_be_visible(timeout=15000)
    assert_axe_clean(page, "the tab that is no longer in the room")

    phone = site.person("Mia", viewport={"width": 390, "height": 844})
    phone.join("quiet-library")
    assert_axe_clean(phone.page, "the room on a phone")
    phone.page.locator('.room-tab[data-tab="chat"]').click()
    expect(phone.page.locator("#chat-input")).to_be_visible()
    assert_axe_clean(phone.page, "the chat tab on a phone")
    assert_clean(ada, grace, phone)
