"""Camera and microphone through the SFU, as two people in two browsers see and hear them."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.people import assert_clean

pytestmark = pytest.mark.browser


def test_two_people_see_and_hear_each_other(site) -> None:  # noqa: ANN001
    ada, grace = site.seated("quiet-library", "Ada", "Grace")
    for person in (ada, grace):
        person.toggle("video")
        person.toggle("audio")
        expect(person.page.locator(".control-video")).to_have_attribute("aria-pressed", "true")
    ada_id, grace_id = ada.user_id(), grace.user_id()

    # Each sees their own preview and the other's camera, playing, with a name on the tile.
    ada.wait_video(ada_id)
    ada.wait_video(grace_id)
    grace.wait_video(ada_id)
    expect(ada.tile(grace_id).locator(".tile-name")).to_have_text("Grace")
    # …and hears them.
    ada.wait_audio(grace_id)
    grace.wait_audio(ada_id)

    # The loudest participant is highlighted (both fake microphones beep).
    expect(ada.page.locator(".tile.is-speaking")).to_have_count(1, timeout=20000)

    # Camera off: the other side shows the placeholder instead of a frozen frame.
    grace.toggle("video")
    expect(ada.tile(grace_id)).not_to_have_class("has-video")
    expect(ada.tile(grace_id).locator(".avatar")).to_be_visible()
    grace.toggle("video")  # and back on, without a new permission prompt or renegotiation
    ada.wait_video(grace_id)

    # Leaving removes the tile and its media.
    grace.page.locator(".control-leave").click()
    expect(ada.tile(grace_id)).to_have_count(0)
    assert_clean(ada, grace)


def test_a_latecomer_receives_everyone_already_publishing(site) -> None:  # noqa: ANN001
    ada, grace = site.person("Ada"), site.person("Grace")
    ada.join("deep-focus")
    ada.toggle("video")
    grace.join("deep-focus")  # joins after Ada publishes, without publishing herself
    grace.wait_video(ada.user_id())
    expect(grace.page.locator(".control-video")).to_have_attribute("aria-pressed", "false")
    grace.assert_clean()


def test_media_resumes_after_a_network_drop(site) -> None:  # noqa: ANN001
    ada, grace = site.seated("writing-desk", "Ada", "Grace")
    grace.toggle("video")
    ada.toggle("video")
    grace_id, ada_id = grace.user_id(), ada.user_id()
    ada.wait_video(grace_id)

    site.hub.drop_connections(ada.proxy)  # Ada's socket drops; the page reconnects by itself
    expect(ada.page.locator("#connection-status")).to_have_attribute("data-state", "reconnecting")
    expect(ada.page.locator("#connection-status")).to_have_attribute("data-state", "online", timeout=20000)
    ada.page.evaluate("() => { window.__videoTimes = {}; }")
    ada.wait_video(grace_id)  # re-subscribed
    grace.wait_video(ada_id)  # re-published
    expect(ada.page.locator(".control-video")).to_have_attribute("aria-pressed", "true")
    expect(grace.participant("Ada")).to_have_attribute("data-video", "true")
    ada.assert_clean()
    grace.assert_clean()
