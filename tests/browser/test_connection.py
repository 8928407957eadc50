"""Connection health: the page answers the server's pings and stays seated while idle."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, WebSocket, expect

pytestmark = pytest.mark.browser


def count_pings(page: Page) -> dict[str, int]:
    """Counts the server's pings and the page's pongs on the page's websockets from now on."""
    frames = {"ping": 0, "pong": 0}

    def watch(ws: WebSocket) -> None:
        ws.on("framereceived", lambda f: frames.__setitem__("ping", frames["ping"] + ('"ping"' in str(f))))
        ws.on("framesent", lambda f: frames.__setitem__("pong", frames["pong"] + ('"pong"' in str(f))))

    page.on("websocket", watch)
    return frames


def wait_answered_pings(page: Page, frames: dict[str, int], count: int) -> None:
    """Until the server sent `count` pings (polling, 20 s cap); each was answered."""
    for _ in range(200):
        if frames["ping"] >= count:
            break
        page.wait_for_timeout(100)
    assert frames["ping"] >= count, f"the server sent {frames['ping']} pings"
    assert frames["pong"] >= frames["ping"] - 1, frames


def test_idle_page_answers_pings_and_keeps_its_seat(site_factory) -> None:  # noqa: ANN001
    # Ping every second after one idle second; three unanswered pings would terminate the socket.
    site = site_factory(cleanup={"ping_interval_s": 1.0, "ping_idle_s": 1.0, "ping_max_missed": 3})
    ada, grace = site.person("Ada"), site.person("Grace")
    frames = count_pings(ada.page)
    ada.join("quiet-library")
    grace.join("quiet-library")
    # Stay idle until more pings arrived than the server tolerates unanswered (polling, 20 s cap).
    wait_answered_pings(ada.page, frames, 5)
    expect(grace.participant("Ada")).to_be_visible()
    expect(ada.page.locator("#connection-status")).to_have_attribute("data-state", "online")
    ada.assert_clean()


def test_a_refused_connection_is_explained(site_factory) -> None:  # noqa: ANN001
    site = site_factory(limits={"connections_per_ip": 1})
    ada = site.person("Ada")
    ada.join("quiet-library")
    # A second tab of the same person exceeds the connection limit.
    second = ada.new_page()
    second.goto("/")
    expect(second.locator(".lobby-summary")).to_contain_text("tabs", timeout=10000)
    second.locator('.room-card[data-room-id="deep-focus"] .room-join').click()
    second.fill("#display-name", "Ada")
    second.locator(".join-form button[type=submit]").click()
    expect(second.locator(".join-status")).to_contain_text("tabs")
    expect(second.locator(".join-form button[type=submit]")).to_be_enabled()
    # The first tab is unaffected.
    expect(ada.page.locator("#connection-status")).to_have_attribute("data-state", "online")
    expect(ada.page.locator("section.room")).to_be_visible()
    ada.assert_clean()


def test_idle_lobby_answers_pings_and_stays_live(site_factory) -> None:  # noqa: ANN001
    site = site_factory(cleanup={"ping_interval_s": 1.0, "ping_idle_s": 1.0, "ping_max_missed": 3})
    ada = site.person("Ada")
    frames = count_pings(ada.page)
    ada.open_lobby()
    wait_answered_pings(ada.page, frames, 5)
    # Still subscribed: someone joining elsewhere moves the lobby's count.
    grace = site.person("Grace")
    grace.join("deep-focus")
    card = ada.page.locator(".room-card", has_text="Deep Focus")
    expect(card).to_contain_text("1 / 10")
    expect(ada.page.locator("#connection-status")).to_have_attribute("data-state", "online")
    ada.assert_clean()
