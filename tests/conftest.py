"""Shared fixtures: settings, live servers (SQLite and PostgreSQL), clients."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from publicrooms.clock import FakeClock
from publicrooms.logging import configure_logging
from publicrooms.media.settings import MediaSettings
from publicrooms.settings import RoomConfig, Settings
from tests.support.clients import SocketClient, http_client, new_ip
from tests.support.live import LiveServer, stop_all
from tests.support.postgres import asyncpg_url, create_database, drop_database, wait_until_unused

configure_logging("warning")

REDIS_URL = os.environ.get("PUBLICROOMS_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI") == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    # Nothing is skipped silently: in CI a skipped test counts as a failure.
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true runs everything): {report.longrepr}"


@pytest.fixture
def logs() -> Iterator[list[dict]]:
    """Every structlog entry (info and up) emitted during the test."""
    import logging

    import structlog
    from structlog.testing import capture_logs

    previous = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        with capture_logs() as captured:
            yield captured
    finally:
        structlog.configure(wrapper_class=previous)


def make_settings(tmp_path, **overrides) -> Settings:  # noqa: ANN001
    base = dict(data_dir=tmp_path / "data", secret="test-secret-0123456789abcdef",
                gc_freeze=False, log_level="warning",
                # Media workers only where a test asks for them (they take a while to start).
                media=MediaSettings(enabled=False))
    base.update(overrides)
    settings = Settings(**base)
    if "cleanup" not in overrides:
        # Open long-polls would otherwise hold every test's teardown for the full grace.
        settings.cleanup.shutdown_grace_s = 1
    return settings


@pytest.fixture
def settings_factory(tmp_path) -> Callable[..., Settings]:  # noqa: ANN001
    return lambda **overrides: make_settings(tmp_path, **overrides)


@pytest.fixture
def server_factory(tmp_path) -> Iterator[Callable[..., LiveServer]]:  # noqa: ANN001
    started: list[LiveServer] = []

    def start(clock: FakeClock | None = None, **overrides) -> LiveServer:  # noqa: ANN003
        server = LiveServer(make_settings(tmp_path, **overrides), clock).start()
        started.append(server)
        return server

    yield start
    stop_all(started)


@pytest.fixture
def server(server_factory) -> LiveServer:  # noqa: ANN001
    return server_factory()


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A scratch database for one test. Whatever used it must be stopped before it is dropped:
    request this fixture before any server factory (fixtures end in reverse order)."""
    name = f"publicrooms_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(create_database(name))
    yield asyncpg_url(name)
    still_connected = asyncio.run(wait_until_unused(name))
    asyncio.run(drop_database(name))
    if still_connected:
        pytest.fail(f"{still_connected} connection(s) still on {name} when it was to be dropped: "
                    "a server the test started outlives its database")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_server(request, server_factory) -> LiveServer:  # noqa: ANN001
    """A live server on SQLite, then again on PostgreSQL."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_database_url")
        server = server_factory(database_url=url)
        # Stopped when this fixture ends, which is before its database is dropped (the server
        # factory, set up before the database, would end after it).
        request.addfinalizer(server.stop)
        return server
    return server_factory()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., SocketClient]]:
    """Factory of socket clients, each closed at the end of the test."""
    made: list[SocketClient] = []

    def make(base_url: str, namespace: str = "/", ip: str | None = None) -> SocketClient:
        client = SocketClient(base_url, ip or new_ip(), namespace)
        made.append(client)
        return client

    yield make
    await asyncio.gather(*(client.close() for client in made), return_exceptions=True)


@pytest.fixture
async def http() -> AsyncIterator[Callable[..., object]]:
    made = []

    def make(base_url: str, ip: str | None = None):  # noqa: ANN202
        client = http_client(base_url, ip or new_ip())
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


__all__ = ["RoomConfig"]
