"""Regenerates docs/screenshots/*.png from a live server and real browsers.

Run: .venv/bin/python -m tests.browser.screenshots   (needs Debian chromium; takes ~30 s)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from publicrooms.settings import DEFAULT_ROOMS, RoomConfig, Settings
from tests.browser.people import CHROMIUM, CHROMIUM_ARGS, Person, ProxyHub
from tests.support.live import LiveServer

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def shoot(browser, hub: ProxyHub, server: LiveServer, people: list[Person]) -> None:  # noqa: ANN001
    def person(name: str, **kwargs) -> Person:  # noqa: ANN003
        people.append(Person(browser, hub, server.port, name, **kwargs))
        return people[-1]

    ada = person("Ada", viewport={"width": 1360, "height": 820})
    grace = person("Grace")
    ada.join("quiet-library", "Ada")
    grace.join("quiet-library", "Grace")
    for name in ("Linus", "Margaret"):
        person(name).join("pomodoro")
    person("Alan").join("deep-focus")
    person("Hedy").join("coding-corner")

    for who in (ada, grace):
        who.toggle("video")
        who.toggle("audio")
    ada.say("Morning! Starting a 50-minute block on chapter 4.")
    grace.say("Same here — linear algebra problem set. Break at :50?")
    ada.say("Deal ☕")
    ada.wait_video(grace.user_id())
    ada.wait_video(ada.user_id())
    expect(ada.page.locator(".chat-message")).to_have_count(3)
    ada.page.mouse.move(0, 0)
    ada.page.locator("#chat-input").blur()
    ada.page.screenshot(path=str(OUT / "room.png"))

    watcher = person("Watcher", viewport={"width": 1280, "height": 860})
    watcher.open_lobby()
    expect(watcher.page.locator('.room-card[data-room-id="pomodoro"] .badge')).to_have_text("Full")
    expect(watcher.page.locator(".lobby-summary")).to_contain_text("6 people")
    watcher.page.screenshot(path=str(OUT / "lobby.png"), full_page=True)

    phone = person("Mia", viewport={"width": 390, "height": 844})
    phone.join("quiet-library", "Mia")
    phone.toggle("video")
    phone.wait_video(ada.user_id())
    phone.wait_video(phone.user_id())
    phone.page.screenshot(path=str(OUT / "room-phone.png"))


def shoot_queue(browser, hub: ProxyHub, server: LiveServer, people: list[Person]) -> None:  # noqa: ANN001
    """The lobby when every seat of the system is taken and someone waits."""
    def person(name: str, **kwargs) -> Person:  # noqa: ANN003
        people.append(Person(browser, hub, server.port, name, **kwargs))
        return people[-1]

    for name, room in (("Ada", "quiet-library"), ("Grace", "deep-focus")):
        person(name).join(room)
    lin = person("Lin")
    lin.submit_join("writing-desk")
    expect(lin.page.locator(".queue-position")).to_have_text("#1")
    watcher = person("Watcher", viewport={"width": 1280, "height": 860})
    watcher.open_lobby()
    expect(watcher.page.locator(".lobby-system")).to_contain_text("1 person is waiting")
    watcher.page.screenshot(path=str(OUT / "lobby-queue.png"))


def serve(data: Path, **overrides) -> LiveServer:  # noqa: ANN003
    data.mkdir()
    settings = Settings(data_dir=data, secret="screenshots-secret-0123456789",
                        trusted_proxies=["127.0.0.1"], gc_freeze=False, log_level="warning",
                        media={"loopback_only": True, "workers": 1}, **overrides)
    return LiveServer(settings).start()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # Default rooms, except one small room so the lobby shows what "full" looks like.
    rooms = [RoomConfig(id=r.id, name=r.name, capacity=2 if r.id == "pomodoro" else r.capacity)
             for r in DEFAULT_ROOMS]
    with tempfile.TemporaryDirectory() as data:
        servers = [serve(Path(data) / "rooms", rooms=rooms), serve(Path(data) / "queue", system_capacity=2)]
        hub = ProxyHub()
        people: list[Person] = []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    shoot(browser, hub, servers[0], people)
                    shoot_queue(browser, hub, servers[1], people)
                except Exception:
                    for n, who in enumerate(people):
                        who.page.screenshot(path=str(Path(tempfile.gettempdir()) / f"screenshot-failure-{n}.png"))
                    raise
                finally:
                    browser.close()
        finally:
            hub.stop()
            for server in servers:
                server.stop()
    print(f"wrote {sorted(p.name for p in OUT.glob('*.png'))}")


if __name__ == "__main__":
    main()
