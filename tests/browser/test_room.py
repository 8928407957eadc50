"""Inside a room: chat with history, live participant state, leave / disconnect, reconnect."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.people import assert_clean

pytestmark = pytest.mark.browser


def test_chat_both_ways_with_history_for_a_latecomer(site) -> None:  # noqa: ANN001
    ada, grace = site.seated("quiet-library", "Ada", "Grace")
    ada.say("Morning! Starting a pomodoro.")
    expect(grace.page.locator(".chat-message").last).to_contain_text("Morning! Starting a pomodoro.")
    expect(grace.page.locator(".chat-message").last.locator(".chat-sender")).to_have_text("Ada")
    grace.say("Same here, it's chapter 3 for me")
    expect(ada.page.locator(".chat-text").last).to_have_text("Same here, it's chapter 3 for me")

    # Timestamps are shown in the viewer's locale with the ISO time kept machine-readable.
    time = ada.page.locator(".chat-message time").first
    expect(time).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    expect(time).to_have_text(re.compile(r"^\d{1,2}:\d\d"))

    linus = site.person("Linus")
    linus.join("quiet-library")
    expect(linus.page.locator(".chat-text")).to_have_text(
        ["Morning! Starting a pomodoro.", "Same here, it's chapter 3 for me"])
    expect(linus.page.locator(".participant")).to_have_count(3)
    assert_clean(ada, grace, linus)


def test_character_counter_and_limit(site) -> None:  # noqa: ANN001
    ada = site.person("Ada")
    ada.join("quiet-library")
    page = ada.page
    counter = page.locator("#chat-counter")
    expect(counter).to_have_text("0 / 1000")
    page.fill("#chat-input", "hello")
    expect(counter).to_have_text("5 / 1000")
    page.fill("#chat-input", "y" * 1001)
    expect(counter).to_have_text("1001 / 1000")
    expect(page.locator(".chat-form button[type=submit]")).to_be_disabled()
    expect(page.locator("#chat-feedback")).to_contain_text("1 characters over")
    page.fill("#chat-input", "z" * 1000)
    page.keyboard.press("Enter")
    expect(page.locator(".chat-text").last).to_have_text("z" * 1000)
    expect(counter).to_have_text("0 / 1000")
    ada.assert_clean()


def test_chat_rate_limit_feedback(site_factory) -> None:  # noqa: ANN001
    site = site_factory(limits={"chat_per_minute": 3, "chat_block_s": 30})
    ada = site.person("Ada")
    ada.join("quiet-library")
    for n in range(3):
        ada.say(f"note {n}")
        expect(ada.page.locator(".chat-text").last).to_have_text(f"note {n}")
    ada.say("one too many")
    feedback = ada.page.locator("#chat-feedback")
    expect(feedback).to_contain_text("faster than the room allows")
    expect(feedback.locator(".countdown")).to_have_text(re.compile(r"^0:[0-3]\d$"))
    expect(ada.page.locator(".chat-form button[type=submit]")).to_be_disabled()
    ada.assert_clean()


def test_toggles_show_in_the_other_persons_list(site) -> None:  # noqa: ANN001
    ada, grace = site.seated("quiet-library", "Ada", "Grace")
    row = grace.participant("Ada")
    expect(row).to_have_attribute("data-audio", "false")
    ada.toggle("audio")
    expect(ada.page.locator(".control-audio")).to_have_attribute("aria-pressed", "true")
    expect(row).to_have_attribute("data-audio", "true")
    expect(row.locator(".state-audio")).to_have_accessible_name("microphone on")
    ada.toggle("video")
    expect(row).to_have_attribute("data-video", "true")
    ada.toggle("audio")
    expect(row).to_have_attribute("data-audio", "false")
    ada.toggle("video")
    expect(row).to_have_attribute("data-video", "false")
    ada.assert_clean()
    grace.assert_clean()


def test_denied_camera_is_explained(site) -> None:  # noqa: ANN001
    ada = site.person("Ada")
    ada.context.clear_permissions()
    ada.join("quiet-library")
    # Simulate the browser refusing the device (as a user clicking "Block" would).
    ada.page.evaluate("""() => {
        navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('denied', 'NotAllowedError'));
    }""")
    ada.toggle("video")
    help_text = ada.page.locator(".device-help")
    expect(help_text).to_contain_text("blocking the camera")
    expect(ada.page.locator(".control-video")).to_be_enabled()
    expect(ada.page.locator(".control-video")).to_have_attribute("aria-pressed", "false")
    ada.assert_clean()


def test_leave_and_disconnect_remove_the_person(site) -> None:  # noqa: ANN001
    ada, grace, linus = site.seated("quiet-library", "Ada", "Grace", "Linus")
    grace_id = grace.user_id()
    linus_id = linus.user_id()
    expect(ada.tile(grace_id)).to_be_visible()
    expect(ada.tile(linus_id)).to_be_visible()

    grace.page.locator(".control-leave").click()
    expect(ada.tile(grace_id)).to_have_count(0)
    expect(ada.participant("Grace")).to_have_count(0)

    linus.page.close()  # closing the tab is a clean disconnect
    expect(ada.tile(linus_id)).to_have_count(0)
    expect(ada.page.locator(".room-occupancy-pill")).to_have_text("1 / 10")
    ada.assert_clean()


def test_reconnect_shows_status_and_refetches_the_room(site) -> None:  # noqa: ANN001
    ada, grace = site.seated("quiet-library", "Ada", "Grace")
    status = ada.page.locator("#connection-status")
    expect(status).to_have_attribute("data-state", "online")

    # Ada's network drops; the proxy refuses nothing, so the client reconnects with backoff.
    site.hub.drop_connections(ada.proxy)
    expect(status).to_have_attribute("data-state", "reconnecting")
    grace.say("sent while Ada was away")
    expect(status).to_have_attribute("data-state", "online", timeout=20000)
    expect(ada.page.locator(".chat-text").last).to_have_text("sent while Ada was away")
    expect(ada.participant("Grace")).to_be_visible()
    expect(grace.participant("Ada")).to_be_visible()
    ada.assert_clean()


def test_reload_goes_straight_back_into_the_room(site) -> None:  # noqa: ANN001
    ada, grace = site.seated("exam-prep", "Ada", "Grace")
    grace.say("before the reload")
    expect(ada.page.locator(".chat-text").last).to_have_text("before the reload")
    ada.page.reload()
    expect(ada.page.locator("section.room .room-title")).to_have_text("Exam Prep", timeout=15000)
    expect(ada.page.locator(".chat-text").last).to_have_text("before the reload")
    expect(grace.participant("Ada")).to_be_visible()
    expect(ada.page.locator(".participant")).to_have_count(2)
    ada.assert_clean()
