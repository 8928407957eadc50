"""Studying together in Chromium: the shared timer, "working on…", system lines, the lobby's mood."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

# This person's computer clock is 7 minutes and 13 seconds fast.
SKEWED_CLOCK = "(() => { const real = Date.now; Date.now = () => real() + 433000; })();"


def clock_seconds(page: Page) -> int:
    text = page.locator(".timer-clock").text_content() or ""
    parts = [int(part) for part in text.split(":")]
    assert len(parts) in (2, 3), text
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def test_two_browsers_count_the_same_focus_phase_down_together(site) -> None:  # noqa: ANN001
    ada, grace = site.person("Ada"), site.person("Grace")
    grace.context.add_init_script(SKEWED_CLOCK)
    ada.join("pomodoro")
    grace.join("pomodoro")
    for person in (ada, grace):
        expect(person.page.locator(".timer-panel")).to_have_attribute("data-status", "running")
        expect(person.page.locator(".timer-phase")).to_have_text("Focus")
        expect(person.page.locator(".timer-round")).to_have_text("Round 1 of 4")
    # The two countdowns agree within a second, though Grace's clock is minutes off.
    a, g = clock_seconds(ada.page), clock_seconds(grace.page)
    assert abs(a - g) <= 1, (a, g)
    assert 24 * 60 <= a <= 25 * 60, a
    # And it counts down.
    first = clock_seconds(ada.page)
    expect(ada.page.locator(".timer-clock")).not_to_have_text(ada.page.locator(".timer-clock").text_content() or "")
    assert clock_seconds(ada.page) < first

    # Ada pauses: both stop at the same time left, and Grace's chat says who paused.
    ada.page.locator(".timer-start").click()
    for person in (ada, grace):
        expect(person.page.locator(".timer-panel")).to_have_attribute("data-status", "paused")
        expect(person.page.locator(".timer-start")).to_have_text("Resume")
    expect(ada.page.locator(".timer-clock")).to_have_text(grace.page.locator(".timer-clock").text_content() or "")
    expect(grace.page.locator(".chat-system-text").last).to_have_text("Ada paused the timer")
    # People show as focusing while the focus phase runs, not while it is paused.
    expect(grace.page.locator(".presence")).to_have_count(0)
    grace.page.locator(".timer-start").click()
    expect(ada.page.locator(".chat-system-text").last).to_have_text("Grace resumed the timer")
    expect(ada.participant("Grace").locator(".presence")).to_have_text("focusing")

    # Skipping to the break: everyone is on a break, and the timer shows its five minutes.
    grace.page.locator(".timer-skip").click()
    for person in (ada, grace):
        expect(person.page.locator(".timer-phase")).to_have_text("Break")
        expect(person.participant("Ada").locator(".presence")).to_have_text("on break")
    a, g = clock_seconds(ada.page), clock_seconds(grace.page)
    assert abs(a - g) <= 1 and 4 * 60 <= a <= 5 * 60, (a, g)
    expect(ada.page.locator(".chat-system-text").last).to_have_text("Grace skipped ahead to break")
    for person in (ada, grace):
        person.assert_clean()


def test_the_chime_is_off_until_chosen_and_remembered_in_this_browser(site) -> None:  # noqa: ANN001
    ada, grace = site.person("Ada"), site.person("Grace")
    ada.join("deep-focus")
    grace.join("deep-focus")
    chime = ada.page.locator("#timer-chime")
    expect(chime).not_to_be_checked()
    grace.page.locator(".timer-skip").click()  # a phase change with the chime off: silence
    expect(ada.page.locator(".timer-phase")).to_have_text("Break")
    expect(ada.page.locator(".timer-panel")).not_to_have_attribute("data-chimes", re.compile("."))
    chime.check()
    grace.page.locator(".timer-skip").click()
    expect(ada.page.locator(".timer-phase")).to_have_text("Focus")
    expect(ada.page.locator(".timer-panel")).to_have_attribute("data-chimes", "1")
    ada.page.reload()
    expect(ada.page.locator("section.room")).to_be_visible(timeout=15000)
    expect(ada.page.locator("#timer-chime")).to_be_checked()
    ada.assert_clean()


def test_working_on_shows_in_the_people_list_and_on_the_tile_and_leaves_with_them(site) -> None:  # noqa: ANN001
    ada, grace = site.person("Ada"), site.person("Grace")
    ada.join("quiet-library")
    grace.join("quiet-library")
    expect(ada.page.locator(".chat-system-text").last).to_have_text("Grace joined")
    ada.page.fill("#status-input", "Chapter 3 <b>eigenvalues</b>")
    ada.page.locator(".status-save").click()
    expect(ada.page.locator(".status-feedback")).to_have_text("Shown to the room.")
    status = grace.participant("Ada").locator(".participant-status")
    expect(status).to_have_text("Chapter 3 <b>eigenvalues</b>")  # text, never markup
    ada_id = ada.user_id()
    expect(grace.tile(ada_id).locator(".tile-status")).to_have_text("Chapter 3 <b>eigenvalues</b>")
    assert grace.page.locator(".participant-status b").count() == 0

    too_long = "x" * 81
    ada.page.locator("#status-input").evaluate("(el, v) => { el.removeAttribute('maxlength'); el.value = v; }", too_long)
    ada.page.locator(".status-save").click()
    expect(ada.page.locator(".status-feedback")).not_to_have_text("Shown to the room.")
    expect(status).to_have_text("Chapter 3 <b>eigenvalues</b>")

    ada.page.locator(".control-leave").click()
    expect(grace.page.locator(".chat-system-text").last).to_have_text("Ada left")
    expect(grace.participant("Ada")).to_have_count(0)
    ada.join("quiet-library")
    expect(ada.page.locator("#status-input")).to_have_value("")
    expect(grace.participant("Ada").locator(".participant-status")).to_have_count(0)
    for person in (ada, grace):
        person.assert_clean()


def test_the_lobby_card_shows_people_cameras_and_the_timer_live(site) -> None:  # noqa: ANN001
    viewer, ada = site.person("Lou"), site.person("Ada")
    lobby = viewer.open_lobby()
    pomodoro = lobby.locator('.room-card[data-room-id="pomodoro"]')
    expect(pomodoro.locator(".room-timer")).to_have_text(re.compile(r"^Focus · (24|25) min left$"))
    expect(pomodoro.locator(".room-cameras")).to_have_text("Nobody here yet")
    library = lobby.locator('.room-card[data-room-id="quiet-library"]')
    expect(library.locator(".room-timer")).to_be_hidden()

    ada.join("quiet-library")
    expect(library.locator(".room-count")).to_have_text(re.compile(r"^1 / "))
    expect(library.locator(".room-cameras")).to_have_text("Cameras off")
    ada.toggle("video")
    expect(library.locator(".room-cameras")).to_have_text("1 camera on")
    ada.page.locator(".timer-start").click()
    expect(library.locator(".room-timer")).to_have_text(re.compile(r"^Focus · 25 min left$"))
    ada.page.locator(".timer-skip").click()
    expect(library.locator(".room-timer")).to_have_text("Break · 5 min left")
    ada.page.locator(".timer-start").click()  # pause
    expect(library.locator(".room-timer")).to_have_text("Break · paused")
    for person in (viewer, ada):
        person.assert_clean()


def test_the_tab_title_counts_messages_that_came_while_it_was_hidden(site) -> None:  # noqa: ANN001
    ada, grace = site.person("Ada"), site.person("Grace")
    ada.join("writing-desk")
    grace.join("writing-desk")
    expect(ada.page).to_have_title("Writing Desk · publicrooms")
    hide = """(hidden) => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
        Object.defineProperty(document, 'visibilityState', { configurable: true,
                                                            get: () => hidden ? 'hidden' : 'visible' });
        document.dispatchEvent(new Event('visibilitychange'));
    }"""
    ada.page.evaluate(hide, True)
    grace.say("anyone up for a break at :30?")
    expect(ada.page).to_have_title("(1) Writing Desk · publicrooms")
    grace.say("ok, back to it")
    expect(ada.page).to_have_title("(2) Writing Desk · publicrooms")
    ada.page.evaluate(hide, False)
    expect(ada.page).to_have_title("Writing Desk · publicrooms")
    ada.say("sounds good")  # her own message never counts
    expect(grace.page.locator(".chat-text").last).to_have_text("sounds good")
    expect(ada.page).to_have_title("Writing Desk · publicrooms")
    for person in (ada, grace):
        person.assert_clean()
