"""Presence that tells the truth: a second tab, a muted speaker, a reconnect, a refusal's reason."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.people import assert_clean

pytestmark = pytest.mark.browser


def test_second_tab_asks_then_takes_over_and_the_first_tab_says_so(site) -> None:  # noqa: ANN001
    ada, grace = site.seated("quiet-library", "Ada", "Grace")
    expect(grace.participant("Ada")).to_be_visible()
    first = ada.page

    # The same person (same browser, same address) opens the room in a second tab.
    second = ada.new_page()
    second.goto("/#/room/quiet-library")
    expect(second.locator("dialog.join-dialog")).to_be_visible()
    expect(second.locator("#display-name")).to_have_value("Ada")
    second.locator(".join-form button[type=submit]").click()
    status = second.locator(".join-status")
    expect(status).to_contain_text("You're in this room in another tab — use it here?")
    # Asking changed nothing: the first tab is still in, and still works.
    expect(first.locator("section.room")).to_be_visible()
    ada.say("still in the first tab")
    expect(grace.page.locator(".chat-text").last).to_have_text("still in the first tab")

    second.locator(".use-here").click()
    expect(second.locator("section.room")).to_be_visible(timeout=15000)
    expect(second.locator(".participant.is-self .name-text")).to_have_text("Ada")
    # The first tab is told, is no longer a ghost "(you)", and can take the seat back.
    expect(first.locator(".moved h1")).to_have_text("You're no longer in this room here")
    expect(first.locator("section.room")).to_have_count(0)
    expect(first.locator(".moved")).to_contain_text("another tab")

    # For everyone else Ada never left: one Ada, and what the second tab sends arrives.
    second.fill("#chat-input", "now from the second tab")
    second.locator(".chat-form button[type=submit]").click()
    expect(grace.page.locator(".chat-text").last).to_have_text("now from the second tab")
    expect(grace.participant("Ada")).to_have_count(1)
    expect(grace.page.locator(".room-occupancy-pill")).to_have_text(re.compile(r"^2 / "))

    # "Use it here" in the first tab moves it back; now the second tab says it.
    first.locator(".use-here").click()
    expect(first.locator("section.room")).to_be_visible(timeout=15000)
    expect(second.locator(".moved h1")).to_have_text("You're no longer in this room here")
    expect(grace.participant("Ada")).to_have_count(1)
    assert_clean(ada, grace)


def test_muting_clears_the_active_speaker(site) -> None:  # noqa: ANN001
    ada, grace = site.seated("quiet-library", "Ada", "Grace")
    grace.toggle("audio")  # Grace's fake microphone beeps: she becomes the speaker
    grace_id = grace.user_id()
    expect(ada.tile(grace_id)).to_have_class(re.compile(r"\bis-speaking\b"), timeout=20000)
    expect(ada.participant("Grace")).to_have_class(re.compile(r"\bis-speaking\b"))
    grace.toggle("audio")
    expect(ada.tile(grace_id)).not_to_have_class(re.compile(r"\bis-speaking\b"))
    expect(ada.participant("Grace")).not_to_have_class(re.compile(r"\bis-speaking\b"))
    expect(ada.page.locator(".tile.is-speaking, .participant.is-speaking")).to_have_count(0)
    assert_clean(ada, grace)


# Grace's microphone runs through a gain the test can turn down: she goes quiet with the
# microphone still on (a headless browser has no other way to fall silent).
QUIET_SWITCH = """
(() => {
  const capture = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await capture(constraints);
    if (!constraints || !constraints.audio) return stream;
    const ctx = new AudioContext();
    const out = ctx.createMediaStreamDestination();
    window.__micGain = ctx.createGain();
    ctx.createMediaStreamSource(stream).connect(window.__micGain).connect(out);
    return new MediaStream([...stream.getVideoTracks(), ...out.stream.getAudioTracks()]);
  };
})();
"""


def test_a_speaker_who_falls_silent_is_no_longer_shown_speaking(site) -> None:  # noqa: ANN001
    ada, grace = site.person("Ada"), site.person("Grace")
    grace.context.add_init_script(QUIET_SWITCH)
    ada.join("quiet-library")
    grace.join("quiet-library")
    grace.toggle("audio")
    grace_id = grace.user_id()
    speaking = re.compile(r"\bis-speaking\b")
    expect(ada.tile(grace_id)).to_have_class(speaking, timeout=20000)
    grace.page.evaluate("() => { window.__micGain.gain.value = 0; }")
    expect(ada.tile(grace_id)).not_to_have_class(speaking, timeout=15000)
    expect(ada.participant("Grace")).not_to_have_class(speaking)
    expect(ada.participant("Grace").locator(".state-audio")).to_have_class(re.compile(r"\bon\b"))
    # Speaking again brings the outline back: it follows the sound, not the button.
    grace.page.evaluate("() => { window.__micGain.gain.value = 1; }")
    expect(ada.tile(grace_id)).to_have_class(speaking, timeout=20000)
    assert_clean(ada, grace)


def test_after_a_reconnect_stale_errors_go_and_an_offline_message_is_offered(site) -> None:  # noqa: ANN001
    ada, grace = site.seated("quiet-library", "Ada", "Grace")
    page = ada.page
    feedback = page.locator("#chat-feedback")
    # A refusal names its reason in words.
    ada.say('<img src=x onerror="alert(1)">')
    expect(feedback).to_contain_text("refused because it has an on…= event-handler attribute")

    site.hub.set_offline(ada.proxy, True)
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "reconnecting")
    ada.say("written while offline")
    expect(feedback).to_contain_text("You're offline")
    site.hub.set_offline(ada.proxy, False)
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "online", timeout=20000)
    # Back: the old errors are gone and the unsent message is offered, not lost or resent by itself.
    expect(feedback).to_contain_text("hasn't been sent yet")
    expect(feedback).not_to_contain_text("refused")
    expect(page.locator("#chat-input")).to_have_value("written while offline")
    page.locator(".send-unsent").click()
    expect(grace.page.locator(".chat-text").last).to_have_text("written while offline")
    expect(feedback).to_have_text("")
    expect(page.locator("#chat-input")).to_have_value("")
    grace.assert_clean()
    ada.assert_clean()
