"""Joining: name validation and memory, and each refusal explained (full, busy, limited, queued)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from publicrooms.settings import RoomConfig
from tests.browser.people import assert_clean

pytestmark = pytest.mark.browser

SUBMIT = ".join-form button[type=submit]"


def test_name_is_validated_inline_and_remembered(site) -> None:  # noqa: ANN001
    ada = site.person("Ada")
    ada.open_join("deep-focus")
    page = ada.page
    page.fill("#display-name", "   ")
    page.locator(SUBMIT).click()
    expect(page.locator("#display-name-error")).to_have_text("Please enter a display name.")
    expect(page.locator("#display-name")).to_have_attribute("aria-invalid", "true")
    page.fill("#display-name", "x" * 51)
    expect(page.locator("#display-name-error")).to_contain_text("the limit is 50")
    expect(page.locator("#display-name-hint")).to_have_text("51 / 50")
    page.fill("#display-name", "  Ada Lovelace ")
    expect(page.locator("#display-name-error")).to_have_text("")
    page.locator(SUBMIT).click()
    expect(page.locator("section.room")).to_be_visible()
    expect(ada.participant("Ada Lovelace")).to_have_class(re.compile(r"\bis-self\b"))
    page.locator(".control-leave").click()
    expect(page.locator(".room-card").first).to_be_visible()

    # Remembered for next time (localStorage), in a fresh page of the same browser.
    page.reload()
    ada.page.locator('.room-card[data-room-id="pomodoro"] .room-join').click()
    expect(page.locator("#display-name")).to_have_value("Ada Lovelace")
    page.keyboard.press("Escape")
    expect(page.locator("dialog.join-dialog")).to_be_hidden()
    ada.assert_clean()


def test_full_room_explains_and_offers_other_rooms(site_factory) -> None:  # noqa: ANN001
    site = site_factory(rooms=[RoomConfig(id="tiny", name="Tiny Room", capacity=1),
                               RoomConfig(id="big", name="Big Room", capacity=5)])
    grace = site.person("Grace")
    grace.open_join("tiny")  # the room is still free when Grace opens the dialog…
    grace.page.fill("#display-name", "Grace")
    site.person("Ada").join("tiny")  # …and taken before she presses Join.
    grace.page.locator(SUBMIT).click()
    status = grace.page.locator(".join-status")
    expect(status).to_contain_text("This room is full")
    alternatives = grace.page.locator(".join-alternatives")
    expect(alternatives).to_contain_text("Big Room")
    alternatives.get_by_role("button", name="Join Big Room").click()
    expect(grace.page.locator("section.room .room-title")).to_have_text("Big Room")
    grace.assert_clean()


def test_already_in_a_room_is_explained(site) -> None:  # noqa: ANN001
    ada = site.person("Ada")
    ada.join("quiet-library")
    # A second tab of the same person (same IP) tries another room.
    ada.page = ada.new_page()
    ada.open_join("deep-focus")
    ada.page.fill("#display-name", "Ada")
    ada.page.locator(SUBMIT).click()
    expect(ada.page.locator(".join-status")).to_contain_text(re.compile(r"already in (another room|“Quiet Library”)"))
    expect(ada.page.locator(SUBMIT)).to_be_enabled()
    ada.assert_clean()


def test_join_rate_limit_shows_a_countdown(site_factory) -> None:  # noqa: ANN001
    site = site_factory(limits={"join_per_minute": 2, "join_block_s": 90})
    ada = site.person("Ada")
    for _ in range(2):
        ada.join("quiet-library")
        ada.page.locator(".control-leave").click()
        expect(ada.page.locator(".room-card").first).to_be_visible()
    ada.open_join("quiet-library")
    ada.page.locator(SUBMIT).click()
    status = ada.page.locator(".join-status")
    expect(status).to_contain_text("Too many join attempts")
    expect(status.locator(".countdown")).to_have_text(re.compile(r"^1:[0-3]\d$"))
    first = status.locator(".countdown").text_content()
    expect(status.locator(".countdown")).not_to_have_text(first or "", timeout=3000)  # it ticks
    expect(ada.page.locator(SUBMIT)).to_be_disabled()
    ada.assert_clean()


def test_queue_position_is_live_and_admission_is_automatic(site_factory) -> None:  # noqa: ANN001
    site = site_factory(system_capacity=1)
    ada = site.person("Ada")
    ada.join("quiet-library")

    def queue(person, room_id: str) -> None:  # noqa: ANN001
        person.open_join(room_id)
        person.page.fill("#display-name", person.name)
        person.page.locator(SUBMIT).click()
        expect(person.page.locator(".join-status")).to_contain_text("at capacity")

    grace, linus = site.person("Grace"), site.person("Linus")
    queue(grace, "deep-focus")
    expect(grace.page.locator(".queue-position")).to_have_text("#1")
    queue(linus, "writing-desk")
    expect(linus.page.locator(".queue-position")).to_have_text("#2")

    grace.page.get_by_role("button", name="Leave queue").click()  # Grace gives up…
    expect(grace.page.locator("dialog.join-dialog")).to_be_hidden()
    expect(linus.page.locator(".queue-position")).to_have_text("#1")  # …and Linus moves up, live.

    ada.page.locator(".control-leave").click()  # a seat frees: Linus enters by himself
    expect(linus.page.locator("section.room .room-title")).to_have_text("Writing Desk", timeout=15000)
    expect(linus.participant("Linus")).to_be_visible()
    assert_clean(ada, grace, linus)
