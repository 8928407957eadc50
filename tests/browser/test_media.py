"""Camera and microphone through the SFU, as two people in two browsers see and hear them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

# Predicates are synchronous (wait_for_function does not await promises); state kept between
# polls on window proves progress: currentTime must advance from one poll to the next.
VIDEO_PLAYING = """
(userId) => {
  const video = document.querySelector(`.tile[data-user-id="${userId}"] video`);
  if (!video || !video.srcObject || video.videoWidth === 0 || video.paused) return false;
  window.__videoTimes = window.__videoTimes || {};
  const previous = window.__videoTimes[userId];
  window.__videoTimes[userId] = video.currentTime;
  return previous !== undefined && video.currentTime > previous;
}
"""

# Measures the received audio itself (Chromium's fake microphone beeps), not just a track's existence.
AUDIO_HEARD = """
(userId) => {
  const audio = document.querySelector(`.tile[data-user-id="${userId}"] audio`);
  const stream = audio && audio.srcObject;
  if (!stream || audio.paused || stream.getAudioTracks().length === 0) return false;
  window.__meters = window.__meters || {};
  let meter = window.__meters[userId];
  if (!meter || meter.stream !== stream) {
    const ctx = new AudioContext();
    ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    ctx.createMediaStreamSource(stream).connect(analyser);
    meter = window.__meters[userId] = { stream, analyser, peak: 0 };
  }
  const data = new Float32Array(meter.analyser.fftSize);
  meter.analyser.getFloatTimeDomainData(data);
  for (const v of data) meter.peak = Math.max(meter.peak, Math.abs(v));
  return meter.peak > 0.01;
}
"""


def wait_video(page: Page, user_id: str, timeout_ms: int = 30000) -> None:
    page.wait_for_function(VIDEO_PLAYING, arg=user_id, timeout=timeout_ms, polling=500)


def wait_audio(page: Page, user_id: str, timeout_ms: int = 30000) -> None:
    page.wait_for_function(AUDIO_HEARD, arg=user_id, timeout=timeout_ms, polling=100)


def test_two_people_see_and_hear_each_other(site) -> None:  # noqa: ANN001
    ada, grace = site.person("Ada"), site.person("Grace")
    ada.join("quiet-library")
    grace.join("quiet-library")
    for person in (ada, grace):
        person.toggle("video")
        person.toggle("audio")
        expect(person.page.locator(".control-video")).to_have_attribute("aria-pressed", "true")
    ada_id, grace_id = ada.user_id(), grace.user_id()

    # Each sees their own preview and the other's camera, playing, with a name on the tile.
    wait_video(ada.page, ada_id)
    wait_video(ada.page, grace_id)
    wait_video(grace.page, ada_id)
    expect(ada.tile(grace_id).locator(".tile-name")).to_have_text("Grace")
    # …and hears them.
    wait_audio(ada.page, grace_id)
    wait_audio(grace.page, ada_id)

    # The loudest participant is highlighted (both fake microphones beep).
    expect(ada.page.locator(".tile.is-speaking")).to_have_count(1, timeout=20000)

    # Camera off: the other side shows the placeholder instead of a frozen frame.
    grace.toggle("video")
    expect(ada.tile(grace_id)).not_to_have_class("has-video")
    expect(ada.tile(grace_id).locator(".avatar")).to_be_visible()
    grace.toggle("video")  # and back on, without a new permission prompt or renegotiation
    wait_video(ada.page, grace_id)

    # Leaving removes the tile and its media.
    grace.page.locator(".control-leave").click()
    expect(ada.tile(grace_id)).to_have_count(0)
    for person in (ada, grace):
        person.assert_clean()


def test_a_latecomer_receives_everyone_already_publishing(site) -> None:  # noqa: ANN001
    ada, grace = site.person("Ada"), site.person("Grace")
    ada.join("deep-focus")
    ada.toggle("video")
    grace.join("deep-focus")  # joins after Ada publishes, without publishing herself
    wait_video(grace.page, ada.user_id())
    expect(grace.page.locator(".control-video")).to_have_attribute("aria-pressed", "false")
    grace.assert_clean()


def test_media_resumes_after_a_network_drop(site) -> None:  # noqa: ANN001
    ada, grace = site.person("Ada"), site.person("Grace")
    ada.join("writing-desk")
    grace.join("writing-desk")
    grace.toggle("video")
    ada.toggle("video")
    grace_id, ada_id = grace.user_id(), ada.user_id()
    wait_video(ada.page, grace_id)

    site.hub.drop_connections(ada.proxy)  # Ada's socket drops; the page reconnects by itself
    expect(ada.page.locator("#connection-status")).to_have_attribute("data-state", "reconnecting")
    expect(ada.page.locator("#connection-status")).to_have_attribute("data-state", "online", timeout=20000)
    ada.page.evaluate("() => { window.__videoTimes = {}; }")
    wait_video(ada.page, grace_id)  # re-subscribed
    wait_video(grace.page, ada_id)  # re-published
    expect(ada.page.locator(".control-video")).to_have_attribute("aria-pressed", "true")
    expect(grace.participant("Ada")).to_have_attribute("data-video", "true")
    ada.assert_clean()
    grace.assert_clean()
