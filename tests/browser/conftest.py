"""Browser fixtures: Debian chromium via Playwright, a live server, and people to drive it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.browser.people import CHROMIUM, CHROMIUM_ARGS, Person, ProxyHub
from tests.support.live import LiveServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need Debian chromium at {CHROMIUM} (apt-get install chromium)")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def hub() -> Iterator[ProxyHub]:
    hub = ProxyHub()
    yield hub
    hub.stop()


@dataclass
class Site:
    """A live server plus the people visiting it (each with their own context and IP)."""

    server: LiveServer
    browser: Browser
    hub: ProxyHub
    people: list[Person] = field(default_factory=list)

    def person(self, name: str, browser: Browser | None = None, **kwargs) -> Person:  # noqa: ANN003
        """A new visitor, in the session's Chromium unless another browser is given."""
        person = Person(browser or self.browser, self.hub, self.server.port, name, **kwargs)
        self.people.append(person)
        return person

    def seated(self, room_id: str, *names: str) -> list[Person]:
        """New visitors who join the room one after the other, in the order named."""
        people = [self.person(name) for name in names]
        for person in people:
            person.join(room_id)
        return people

    def close(self) -> None:
        for person in self.people:
            try:
                person.close()
            except Exception:  # noqa: BLE001 - a crashed context must not hide the test result
                pass
        self.hub.close_all()


@pytest.fixture
def site_factory(server_factory, browser: Browser, hub: ProxyHub) -> Iterator[Callable[..., Site]]:  # noqa: ANN001
    sites: list[Site] = []

    def make(**overrides) -> Site:  # noqa: ANN003
        # The browser reaches the server through per-person proxies on 127.0.0.1.
        overrides.setdefault("trusted_proxies", ["127.0.0.1"])
        # Browsers and SFU on one host: ICE over loopback only (chromium runs with
        # --allow-loopback-in-peer-connection), one media worker to spare the CPU.
        overrides.setdefault("media", {"loopback_only": True, "workers": 1})
        site = Site(server_factory(**overrides), browser, hub)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.close()


@pytest.fixture
def site(site_factory: Callable[..., Site]) -> Site:
    return site_factory()
