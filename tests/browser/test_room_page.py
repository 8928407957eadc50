"""The room page: before joining, a room that fills the screen, phones, shortcuts, layouts."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.people import assert_clean

pytestmark = pytest.mark.browser

SELF_TRACK_LABEL = """(kind) => {
  const stream = document.querySelector('.tile.is-self video')?.srcObject;
  const track = stream && (kind === 'audio' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0]);
  return track && track.readyState === 'live' ? track.label : '';
}"""


def in_viewport(page: Page, selector: str) -> bool:
    return page.locator(selector).evaluate("""(el) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0
        && r.bottom <= window.innerHeight && r.right <= window.innerWidth;
    }""")


def test_prejoin_preview_choices_remembered_and_restored_after_reload(site) -> None:  # noqa: ANN001
    ada, grace = site.person("Ada"), site.person("Grace")
    grace.join("quiet-library")
    ada.open_join("quiet-library")
    page = ada.page
    # Everything starts off: no device is asked for before the person chooses.
    expect(page.locator("#prejoin-video")).not_to_be_checked()
    expect(page.locator("#prejoin-audio")).not_to_be_checked()
    expect(page.locator(".prejoin-off")).to_be_visible()
    page.locator("#prejoin-video").check()
    page.wait_for_function("() => document.querySelector('.prejoin-video').videoWidth > 0")
    expect(page.locator(".prejoin-off")).to_be_hidden()
    page.locator("#prejoin-audio").check()
    # Once allowed, the devices are listed by name to pick from.
    mics = page.locator("#prejoin-audio-device option")
    expect(mics.first).to_be_attached()
    assert mics.count() >= 2, "chromium's fake devices offer several microphones"
    choice = mics.nth(1)
    chosen_label, chosen_id = choice.text_content(), choice.get_attribute("value")
    page.select_option("#prejoin-audio-device", chosen_id)
    page.wait_for_function(
        "(id) => document.querySelector('.prejoin-video').srcObject?.getAudioTracks()[0]?.getSettings().deviceId === id",
        arg=chosen_id)
    page.fill("#display-name", "Ada")
    page.locator(".join-form button[type=submit]").click()
    expect(page.locator("section.room")).to_be_visible(timeout=15000)

    # In the room with both on, on the chosen microphone; the others see it.
    expect(page.locator(".control-video")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".control-audio")).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(f"() => ({SELF_TRACK_LABEL})('audio') === {chosen_label!r}")
    expect(grace.participant("Ada").locator(".state-video")).to_have_class(re.compile(r"\bon\b"))
    expect(grace.participant("Ada").locator(".state-audio")).to_have_class(re.compile(r"\bon\b"))

    # Switching the microphone inside the room keeps it on and tells nobody to renegotiate.
    page.locator(".control-devices").click()
    expect(page.locator("#device-panel")).to_be_visible()
    other = page.locator("#room-audio-device option").nth(0)
    other_label = other.text_content()
    assert other_label != chosen_label
    page.select_option("#room-audio-device", other.get_attribute("value"))
    page.wait_for_function(f"() => ({SELF_TRACK_LABEL})('audio') === {other_label!r}")
    expect(page.locator(".control-audio")).to_have_attribute("aria-pressed", "true")

    # Camera off in the room, then a reload: back in, camera off, microphone on (that device).
    ada.toggle("video")
    expect(grace.participant("Ada").locator(".state-video")).to_have_class(re.compile(r"\boff\b"))
    page.reload()
    expect(page.locator("section.room")).to_be_visible(timeout=15000)
    expect(page.locator(".control-audio")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".control-video")).to_have_attribute("aria-pressed", "false")
    page.wait_for_function(f"() => ({SELF_TRACK_LABEL})('audio') === {other_label!r}")
    expect(grace.participant("Ada").locator(".state-audio")).to_have_class(re.compile(r"\bon\b"))
    expect(grace.participant("Ada")).to_have_count(1)
    # The next join asks with the remembered choices ticked.
    page.locator(".control-leave").click()
    ada.open_join("quiet-library")
    expect(page.locator("#prejoin-audio")).to_be_checked()
    expect(page.locator("#prejoin-video")).not_to_be_checked()
    assert_clean(ada, grace)


def _reload_expecting(ada, grace, video: bool, audio: bool) -> None:  # noqa: ANN001
    """Ada reloads: back in the room with her camera and microphone as they were, for everyone."""
    page = ada.page
    page.reload()
    expect(page.locator("section.room")).to_be_visible(timeout=15000)
    expect(page.locator(".control-video")).to_have_attribute("aria-pressed", str(video).lower())
    expect(page.locator(".control-audio")).to_have_attribute("aria-pressed", str(audio).lower())
    page.wait_for_function(f"() => !!({SELF_TRACK_LABEL})('video') === {str(video).lower()}"
                           f" && !!({SELF_TRACK_LABEL})('audio') === {str(audio).lower()}")
    seen = grace.participant("Ada")
    expect(seen.locator(".state-video")).to_have_class(re.compile(r"\bon\b" if video else r"\boff\b"))
    expect(seen.locator(".state-audio")).to_have_class(re.compile(r"\bon\b" if audio else r"\boff\b"))
    expect(seen).to_have_count(1)


def test_camera_and_microphone_turned_on_and_off_in_the_room_come_back_after_a_reload(site) -> None:  # noqa: ANN001
    grace, ada = site.seated("quiet-library", "Grace", "Ada")  # Ada joins with both off (the default)
    page = ada.page
    seen_by_grace = grace.participant("Ada")
    expect(page.locator(".control-audio")).to_have_attribute("aria-pressed", "false")
    ada.toggle("video")
    ada.toggle("audio")
    expect(seen_by_grace.locator(".state-video")).to_have_class(re.compile(r"\bon\b"))
    expect(seen_by_grace.locator(".state-audio")).to_have_class(re.compile(r"\bon\b"))
    _reload_expecting(ada, grace, video=True, audio=True)

    # Microphone off with the shortcut, then another reload: the camera stays on, the mic off.
    page.locator(".room-title").click()
    page.keyboard.press("m")
    expect(seen_by_grace.locator(".state-audio")).to_have_class(re.compile(r"\boff\b"))
    _reload_expecting(ada, grace, video=True, audio=False)
    assert_clean(ada, grace)


def test_full_room_fits_the_screen_with_composer_and_errors_visible(site_factory) -> None:  # noqa: ANN001
    site = site_factory(limits={"chat_per_minute": 2, "chat_block_s": 30})
    long_name = "Maximiliana Wolfeschlegelsteinhausenbergerdorff"
    people = site.seated("quiet-library", long_name, *(f"Student {n}" for n in range(1, 10)))
    watcher = people[0]
    page = watcher.page
    expect(page.locator(".participant")).to_have_count(10)
    expect(page.locator(".tile")).to_have_count(10)

    # The page itself doesn't scroll: the grid and the sidebar share the screen.
    assert page.evaluate("() => document.documentElement.scrollHeight <= window.innerHeight")
    grid = page.locator(".video-grid").bounding_box()
    stage = page.locator(".stage").bounding_box()
    assert grid and stage and grid["height"] > 0.6 * stage["height"], (grid, stage)
    cols = int(page.locator(".video-grid").get_attribute("data-cols") or 0)
    assert 3 <= cols <= 5, f"10 tiles on a 1280x800 screen in {cols} columns"
    boxes = [t.bounding_box() for t in page.locator(".tile").all()]
    for box in boxes:
        assert box and box["width"] >= 120 and box["height"] >= 80, box
        assert box["y"] + box["height"] <= grid["y"] + grid["height"] + 1, "tile inside the grid"

    # Long names end in an ellipsis and keep their microphone/camera icons.
    row = page.locator(".participant.is-self")
    name = row.locator(".participant-name")
    assert name.evaluate("(el) => el.scrollWidth > el.clientWidth"), "the long name is cut"
    assert name.evaluate("(el) => getComputedStyle(el).textOverflow") == "ellipsis"
    sidebar = page.locator(".sidebar").bounding_box()
    for icon in ("state-audio", "state-video"):
        box = row.locator(f".{icon}").bounding_box()
        assert box and sidebar and box["x"] + box["width"] <= sidebar["x"] + sidebar["width"], icon
    caption = page.locator(".tile.is-self .tile-caption").bounding_box()
    tile = page.locator(".tile.is-self").bounding_box()
    assert caption and tile and caption["x"] + caption["width"] <= tile["x"] + tile["width"]

    # The composer and the rate-limit message stay on screen.
    for n in range(3):
        watcher.say(f"note {n}")
    feedback = page.locator("#chat-feedback")
    expect(feedback).to_contain_text("faster than the room allows")
    assert in_viewport(page, "#chat-input")
    assert in_viewport(page, "#chat-feedback")
    assert in_viewport(page, ".chat-form button[type=submit]")

    # Speaker view: one large tile and a strip; a pin holds a chosen person there.
    page.locator(".control-layout").click()
    expect(page.locator(".control-layout")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".video-grid")).to_have_class(re.compile(r"\bis-focus-view\b"))
    expect(page.locator(".tile.is-focus")).to_have_count(1)
    target = people[5].user_id()
    pin = watcher.tile(target).locator(".tile-pin")
    pin.focus()
    pin.press("Enter")
    expect(pin).to_have_attribute("aria-pressed", "true")
    expect(watcher.tile(target)).to_have_class(re.compile(r"\bis-focus\b"))
    big = watcher.tile(target).bounding_box()
    small = page.locator(".tile:not(.is-focus)").first.bounding_box()
    assert big and small and big["width"] > 2 * small["width"]
    pin.press("Enter")  # unpinned: speaker view goes on without the pin
    expect(pin).to_have_attribute("aria-pressed", "false")
    page.locator(".control-layout").click()
    expect(page.locator(".video-grid")).not_to_have_class(re.compile(r"\bis-focus-view\b"))
    assert_clean(*people)


CONTROL_BOXES = """() => [...document.querySelectorAll('.controls .control')].map((el) => {
  const box = el.getBoundingClientRect();
  const label = el.querySelector('.control-label');
  const kbd = el.querySelector('kbd');
  return {
    name: el.className.match(/control-(\\w+)/g).pop(), x: box.x, y: box.y, width: box.width, height: box.height,
    labelShown: label.getBoundingClientRect().width > 1, labelCut: label.scrollWidth > label.clientWidth + 1,
    kbdShown: !!kbd && kbd.getBoundingClientRect().width > 0,
  };
})"""


def test_the_five_controls_stay_on_one_line_from_desktop_to_phone(site) -> None:  # noqa: ANN001
    grace, ada = site.seated("quiet-library", "Grace", "Ada")
    page = ada.page
    ada.toggle("audio")
    expect(page.locator(".control-audio")).to_have_attribute("aria-pressed", "true")
    for width, height in ((1280, 800), (1024, 768), (390, 844), (320, 640)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_function("(w) => window.innerWidth === w", arg=width)
        controls = page.evaluate(CONTROL_BOXES)
        stage = page.locator(".stage").bounding_box()
        assert stage and [c["name"] for c in controls] == [
            "control-audio", "control-video", "control-devices", "control-layout", "control-leave"]
        where = f"at {width}x{height}: {controls}"
        assert max(c["y"] for c in controls) - min(c["y"] for c in controls) < 1, f"one line {where}"
        for left, right in zip(controls, controls[1:]):
            assert left["x"] + left["width"] <= right["x"], f"no overlap {where}"
        assert controls[0]["x"] >= stage["x"] and controls[-1]["x"] + controls[-1]["width"] <= stage["x"] + stage["width"]
        assert controls[-1]["x"] + controls[-1]["width"] <= width, f"inside the window {where}"
        for c in controls:
            assert c["width"] >= 44 and c["height"] >= 44, f"a finger-sized target {where}"
            assert not c["labelShown"] or not c["labelCut"], f"no label cut off {where}"
        if width == 1280:
            assert all(c["labelShown"] for c in controls), where
            assert [c["kbdShown"] for c in controls[:2]] == [True, True], "shortcuts shown on a desktop"
            assert all(c["height"] < 60 for c in controls), f"one row of pills {where}"
        if width <= 390:
            # Icons alone on a phone; each button keeps its name for assistive technology.
            assert not any(c["labelShown"] for c in controls), where
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator('.room-tab[data-tab="video"]').click()
    for name in ("Microphone", "Camera", "Devices", "Speaker view", "Leave"):
        expect(page.get_by_role("button", name=re.compile(f"^{name}"))).to_be_visible()
    page.get_by_role("button", name=re.compile("^Microphone")).click()
    expect(grace.participant("Ada").locator(".state-audio")).to_have_class(re.compile(r"\boff\b"))
    assert_clean(ada, grace)


@pytest.mark.parametrize("count", [1, 2, 4])
def test_grid_uses_the_height_for_few_people(site, count: int) -> None:  # noqa: ANN001
    people = site.seated("quiet-library", *(f"P{n}" for n in range(count)))
    page = people[0].page
    expect(page.locator(".tile")).to_have_count(count)
    grid = page.locator(".video-grid").bounding_box()
    assert grid and grid["height"] >= 400, grid  # the stage's height, not a strip at the top
    area = sum(b["width"] * b["height"] for b in (t.bounding_box() for t in page.locator(".tile").all()))
    assert area >= 0.5 * grid["width"] * grid["height"], "tiles fill the grid"
    assert_clean(*people)


def test_phone_has_video_and_chat_tabs(site) -> None:  # noqa: ANN001
    mia = site.person("Mia", viewport={"width": 390, "height": 844})
    grace = site.person("Grace")
    mia.join("quiet-library")
    grace.join("quiet-library")
    page = mia.page
    expect(page.locator(".room-tabs")).to_be_visible()
    expect(page.locator(".video-grid")).to_be_visible()
    expect(page.locator("#chat-input")).to_be_hidden()  # chat is not stacked below the video
    grace.say("are you there?")
    chat_tab = page.locator('.room-tab[data-tab="chat"]')
    expect(chat_tab).to_have_text("Chat (1 new)")
    chat_tab.click()
    expect(chat_tab).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#chat-input")).to_be_visible()
    expect(page.locator(".video-grid")).to_be_hidden()
    expect(page.locator(".chat-text").last).to_have_text("are you there?")
    expect(chat_tab).to_have_text("Chat")
    assert in_viewport(page, "#chat-input")
    mia.say("yes!")
    expect(grace.page.locator(".chat-text").last).to_have_text("yes!")
    page.locator('.room-tab[data-tab="video"]').click()
    expect(page.locator(".video-grid")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    mia.assert_clean()


def test_keyboard_shortcuts_for_microphone_and_camera(site) -> None:  # noqa: ANN001
    ada, grace = site.seated("quiet-library", "Ada", "Grace")
    page = ada.page
    mic, cam = page.locator(".control-audio"), page.locator(".control-video")
    # The shortcut is in the control's label and declared for assistive technology.
    expect(mic).to_contain_text("M")
    expect(mic.locator("kbd")).to_have_text("M")
    expect(cam.locator("kbd")).to_have_text("V")
    expect(mic).to_have_attribute("aria-keyshortcuts", "M")
    expect(cam).to_have_attribute("aria-keyshortcuts", "V")
    page.locator(".room-title").click()
    page.keyboard.press("m")
    expect(mic).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("v")
    expect(cam).to_have_attribute("aria-pressed", "true")
    expect(grace.participant("Ada").locator(".state-audio")).to_have_class(re.compile(r"\bon\b"))
    # Typing in the chat box is typing, not a shortcut.
    page.locator("#chat-input").click()
    page.keyboard.type("mv")
    expect(page.locator("#chat-input")).to_have_value("mv")
    expect(mic).to_have_attribute("aria-pressed", "true")
    expect(cam).to_have_attribute("aria-pressed", "true")
    page.locator(".room-title").click()
    page.keyboard.press("m")
    expect(mic).to_have_attribute("aria-pressed", "false")
    expect(grace.participant("Ada").locator(".state-audio")).to_have_class(re.compile(r"\boff\b"))
    assert_clean(ada, grace)
