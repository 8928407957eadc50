"""Packets from one publisher reach every subscriber intact: frame numbers, size, tone."""

from __future__ import annotations

import time

import pytest

from .conftest import assert_released, join
from .mediaclient import poll

pytestmark = pytest.mark.media


def assert_continuous(numbers: list[int], max_gap: int, what: str) -> None:
    assert len(numbers) >= 2, f"{what}: too few frames ({len(numbers)})"
    gaps = [b - a for a, b in zip(numbers, numbers[1:])]
    assert all(g >= 1 for g in gaps), f"{what}: frame numbers go backwards or repeat: {numbers}"
    assert max(gaps) <= max_gap, f"{what}: gap of {max(gaps)} frames in {numbers}"


async def test_one_publisher_to_three_subscribers(service, router):
    room = "room-1"
    alice = join(service, router, room, "alice")
    viewers = [join(service, router, room, f"viewer-{i}") for i in range(3)]
    await alice.publish(tone_hz=440.0)
    for viewer in viewers:
        await viewer.subscribe()

    for viewer in viewers:
        await poll(lambda: viewer.video.get("alice") and viewer.video["alice"].count >= 15,
                   20, lambda: f"{viewer.id} got {viewer.video.get('alice')} video frames")
        await poll(lambda: viewer.audio.get("alice") and viewer.audio["alice"].frames >= 50,
                   10, f"{viewer.id} got no audio from alice")

    since = time.monotonic()
    await poll(lambda: all(len(v.video["alice"].numbers_since(since)) >= 20 for v in viewers), 15,
               "video did not keep flowing")
    for viewer in viewers:
        stats = viewer.video["alice"]
        assert stats.sizes == {(640, 480)}, stats.sizes
        assert_continuous(stats.numbers_since(since), max_gap=3, what=viewer.id)
        tone = viewer.tone_of("alice")
        assert abs(tone - 440.0) < 15, f"{viewer.id} hears {tone} Hz instead of 440 Hz"
    assert {t["participantId"] for t in viewers[0].tracks} == {"alice"}
    assert service.room_media(room) == [
        {"participantId": "alice", "kind": "video", "muted": False},
        {"participantId": "alice", "kind": "audio", "muted": False},
    ] or sorted(m["kind"] for m in service.room_media(room)) == ["audio", "video"]

    for participant in [alice, *viewers]:
        await participant.close()
    await assert_released(service)
