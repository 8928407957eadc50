"""Room sound in a browser that keeps pages quiet until the person interacts with them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, expect

from tests.browser.people import CHROMIUM, CHROMIUM_ARGS, assert_clean

pytestmark = pytest.mark.browser

# Chromium's policy for ordinary sites, made explicit: sound may autoplay only once the person
# has interacted with the page. Every Playwright evaluation (locators and expect() included)
# runs with userGesture: true and so counts as that interaction: after the reload the test
# waits on a console line from this observer, not on anything that evaluates in the page.
STRICT_AUTOPLAY = "--autoplay-policy=document-user-activation-required"
PROMPT_WATCH = """
document.addEventListener('DOMContentLoaded', () => {
  new MutationObserver((changes) => {
    for (const c of changes) {
      if (c.target.classList.contains('sound-prompt') && !c.target.hidden) {
        const audio = document.querySelector('.tile-audio');
        console.log(`sound-prompt shown, audio ${audio && audio.paused ? 'paused' : 'playing'}, `
          + `activated ${navigator.userActivation.hasBeenActive}`);
      }
    }
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['hidden'] });
});
"""


@pytest.fixture(scope="module")
def strict_browser(playwright: Playwright, browser: Browser) -> Iterator[Browser]:  # noqa: ARG001
    strict = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, STRICT_AUTOPLAY])
    yield strict
    strict.close()


def test_sound_prompt_by_the_video_says_why_and_turns_the_room_sound_on(site, strict_browser) -> None:  # noqa: ANN001
    grace = site.person("Grace")
    grace.join("quiet-library")
    grace.toggle("audio")  # Chromium's fake microphone beeps
    ada = site.person("Ada", browser=strict_browser)
    ada.context.add_init_script(PROMPT_WATCH)
    page = ada.join("quiet-library")
    grace_id = grace.user_id()
    # Joining was a click in the page: sound plays at once, no prompt.
    ada.wait_audio(grace_id)
    expect(page.locator(".sound-prompt")).to_be_hidden()

    # A reload re-enters the room without any click: the browser refuses to play sound.
    with page.expect_console_message(lambda m: m.text.startswith("sound-prompt shown"), timeout=30000) as shown:
        page.reload()
    assert shown.value.text == "sound-prompt shown, audio paused, activated false"
    prompt = page.locator(".sound-prompt")
    expect(prompt).to_be_visible()
    expect(prompt).to_have_attribute("role", "status")
    expect(prompt).to_contain_text("Your browser keeps new pages quiet until you interact with them, "
                                   "so you can't hear the room yet.")
    expect(page.locator(".participant.is-self .name-text")).to_have_text("Ada")
    # It sits by the video: in the stage, right above the grid, as wide as it.
    stage = page.locator(".stage").bounding_box()
    grid = page.locator(".video-grid").bounding_box()
    box = prompt.bounding_box()
    assert stage and grid and box
    assert stage["y"] <= box["y"] and box["y"] + box["height"] <= grid["y"] + 1, (box, grid)
    assert grid["y"] - (box["y"] + box["height"]) < 24, "next to the video, not elsewhere"
    assert abs(box["x"] - grid["x"]) < 2 and abs(box["width"] - grid["width"]) < 2

    page.get_by_role("button", name="Turn on room sound").click()
    expect(prompt).to_be_hidden()
    page.evaluate("() => { window.__meters = {}; }")
    ada.wait_audio(grace_id)  # the <audio> plays, and what it plays is Grace's beep
    assert_clean(ada, grace)
