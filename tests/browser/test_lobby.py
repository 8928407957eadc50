"""The lobby: every room with live occupancy and a clear full state; the page's safety headers."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from publicrooms.settings import RoomConfig
from tests.browser.people import assert_clean

pytestmark = pytest.mark.browser


def test_lobby_lists_rooms_and_follows_occupancy_live(site) -> None:  # noqa: ANN001
    watcher = site.person("Watcher")
    page = watcher.open_lobby()
    cards = page.locator(".room-card")
    expect(cards).to_have_count(10)
    card = page.locator('.room-card[data-room-id="quiet-library"]')
    expect(card.locator(".room-name")).to_have_text("Quiet Library")
    expect(card.locator(".room-count")).to_have_text("0 / 10")

    ada = site.person("Ada")
    ada.join("quiet-library")
    expect(card.locator(".room-count")).to_have_text("1 / 10")  # no reload in between
    grace = site.person("Grace")
    grace.join("quiet-library")
    expect(card.locator(".room-count")).to_have_text("2 / 10")
    expect(page.locator(".lobby-summary")).to_contain_text("2 people studying")

    ada.page.locator(".control-leave").click()
    expect(ada.page.locator('.room-card[data-room-id="quiet-library"] .room-count')).to_have_text("1 / 10")
    expect(card.locator(".room-count")).to_have_text("1 / 10")
    assert_clean(watcher, ada, grace)


def test_full_room_is_shown_full_live(site_factory) -> None:  # noqa: ANN001
    site = site_factory(rooms=[RoomConfig(id="tiny", name="Tiny Room", capacity=1),
                               RoomConfig(id="big", name="Big Room", capacity=5)])
    watcher = site.person("Watcher")
    page = watcher.open_lobby()
    card = page.locator('.room-card[data-room-id="tiny"]')
    expect(card.locator(".badge")).to_have_text("Empty")
    site.person("Ada").join("tiny")
    expect(card).to_have_class(re.compile(r"\bis-full\b"))
    expect(card.locator(".badge")).to_have_text("Full")
    expect(card.locator(".room-join")).to_be_disabled()
    expect(card.locator(".room-join")).to_have_accessible_name("Tiny Room is full")
    watcher.assert_clean()


def test_page_is_served_with_a_strict_csp(site) -> None:  # noqa: ANN001
    person = site.person("Reader")
    response = person.page.goto("/")
    csp = response.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                      "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
        assert directive in csp
    expect(person.page.locator(".room-card").first).to_be_visible()
    # Nothing inline and nothing third-party in the built page.
    html = person.page.content()
    assert "style=" not in html.split("<main")[0]
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    person.assert_clean()


def test_lobby_says_a_join_queues_when_the_system_is_full(site_factory) -> None:  # noqa: ANN001
    site = site_factory(system_capacity=2)
    watcher = site.person("Watcher")
    page = watcher.open_lobby()
    notice = page.locator(".lobby-system")
    expect(notice).to_be_hidden()  # seats free: nothing to say
    ada, grace = site.person("Ada"), site.person("Grace")
    ada.join("quiet-library")
    grace.join("deep-focus")
    # Every seat of the system is taken, though each room still has free seats.
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("All study rooms are at capacity right now (2 of 2 seats taken).")
    expect(notice).to_contain_text("Joining a room puts you in the queue: Nobody is waiting yet.")
    expect(page.locator('.room-card[data-room-id="quiet-library"] .room-join')).to_be_enabled()
    expect(page.locator(".lobby-summary")).to_have_text("2 people studying")  # no "free seats"

    # Someone else tries to join: they wait, and the lobby counts them, live.
    lin = site.person("Lin")
    lin.submit_join("writing-desk")
    expect(lin.page.locator(".queue-position")).to_have_text("#1")
    expect(notice).to_contain_text("Joining a room puts you in the queue: 1 person is waiting.")
    expect(notice).to_have_attribute("data-waiting", "1")

    # A seat frees: Lin is admitted from the queue and the system is full again, nobody waiting.
    ada.page.locator(".control-leave").click()
    expect(lin.page.locator("section.room")).to_be_visible(timeout=15000)
    expect(notice).to_contain_text("Nobody is waiting yet")
    # Another seat frees: the notice goes.
    grace.page.locator(".control-leave").click()
    expect(notice).to_be_hidden()
    expect(page.locator(".lobby-summary")).to_have_text("1 person studying · 10 of 10 rooms have free seats")
    assert_clean(watcher, ada, grace, lin)
