"""Fixtures for the SFU tests: a real MediaService with worker processes on loopback."""

from __future__ import annotations

from typing import AsyncIterator

import pytest

from publicrooms.media.service import MediaService
from publicrooms.media.settings import MediaSettings

from .mediaclient import EventRouter, Participant, poll, poll_async


# Every media test runs on the compiled per-packet path and on the pure-Python fallback; the
# `fastpath` fixture says which, and `media_settings()` builds workers for it.
_FASTPATH = {"native": True}


@pytest.fixture(autouse=True, params=["compiled", "python"])
def fastpath(request: pytest.FixtureRequest) -> str:
    _FASTPATH["native"] = request.param == "compiled"
    return str(request.param)


async def assert_fastpath(service: MediaService) -> None:
    """The workers really use the path this test run is for (no silent fallback in CI)."""
    stats = await service.stats()
    wanted = _FASTPATH["native"]
    assert [w["nativeFastpath"] for w in stats["workers"]] == [wanted] * len(stats["workers"]), (
        "compiled fast path requested but not in use: build it with `pip install -e .`" if wanted
        else "Python path requested but the compiled one is in use"
    )


def media_settings(**overrides: object) -> MediaSettings:
    values: dict[str, object] = {
        "workers": 1,
        "loopback_only": True,
        "pli_throttle_s": 0.3,
        "speaker_interval_s": 0.2,
        "native_fastpath": _FASTPATH["native"],
    }
    values.update(overrides)
    return MediaSettings(**values)


@pytest.fixture
def router() -> EventRouter:
    return EventRouter()


@pytest.fixture
async def service(router: EventRouter) -> AsyncIterator[MediaService]:
    service = MediaService(media_settings(), on_event=router)
    await service.start()
    await assert_fastpath(service)
    try:
        yield service
    finally:
        for participant in list(router.participants.values()):
            await participant.close(tell_service=False)
        await service.stop()


def join(service: MediaService, router: EventRouter, room_id: str, participant_id: str) -> Participant:
    return router.add(Participant(service, room_id, participant_id))


async def assert_released(service: MediaService) -> None:
    """Every peer connection, socket, track and task in the workers is gone."""
    keys = ("peerConnections", "udpSockets", "muxConnections", "muxRoutes", "upTracks", "downTracks", "tasks", "rooms")
    last: dict[str, object] = {}

    async def released() -> bool:
        stats = await service.stats()
        last.update({key: stats[key] for key in keys})
        return all(stats[key] == 0 for key in keys)

    async def names() -> list[str]:
        return [name for worker in (await service.stats())["workers"] for name in worker["taskNames"]]

    try:
        await poll_async(released, 10, lambda: f"media resources not released: {last}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; worker tasks: {await names()}") from None


__all__ = ["assert_released", "join", "media_settings", "poll"]
