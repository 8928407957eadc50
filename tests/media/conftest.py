"""Fixtures for the SFU tests: a real MediaService with worker processes on loopback."""

from __future__ import annotations

from typing import AsyncIterator

import pytest

from publicrooms.media.service import MediaService
from publicrooms.media.settings import MediaSettings

from .mediaclient import EventRouter, Participant, poll, poll_async


def media_settings(**overrides: object) -> MediaSettings:
    values: dict[str, object] = {
        "workers": 1,
        "loopback_only": True,
        "pli_throttle_s": 0.3,
        "speaker_interval_s": 0.2,
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
    keys = ("peerConnections", "udpSockets", "upTracks", "downTracks", "tasks", "rooms")
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
