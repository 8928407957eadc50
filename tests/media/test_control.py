"""Mute, leave, re-publish, active speaker and retransmissions, end to end."""

from __future__ import annotations

import pytest

from publicrooms.media import aiortc_adapter

from .conftest import assert_released, join
from .mediaclient import poll, poll_async

pytestmark = pytest.mark.media


async def uptrack_stats(service, room_id: str, track_id: str) -> dict:
    stats = await service.stats()
    for worker in stats["workers"]:
        for track in worker["rooms"].get(room_id, {}).get("tracks", []):
            if track["id"] == track_id:
                return track
    raise AssertionError(f"no up track {track_id} in {room_id}")


async def dropped(service, room_id: str, track_id: str, at_least: int) -> bool:
    return (await uptrack_stats(service, room_id, track_id))["dropped"] >= at_least


async def test_mute_stops_forwarding_and_unmute_resumes(service, router):
    room = "room-mute"
    alice = join(service, router, room, "alice")
    bob = join(service, router, room, "bob")
    await alice.publish()
    await bob.subscribe()
    await poll(lambda: bob.video.get("alice") and bob.video["alice"].count >= 10, 20, "video before mute")
    await poll(lambda: bob.audio.get("alice") and bob.audio["alice"].frames >= 25, 10, "audio before mute")

    await service.set_muted(room, "alice", "video", True)
    assert {"participantId": "alice", "kind": "video", "muted": True} in service.room_media(room)
    dropped_at_mute = (await uptrack_stats(service, room, "alice:video"))["dropped"]
    frames_at_mute = bob.video["alice"].count
    # the publisher keeps sending; wait until the server has dropped a good while of it
    await poll_async(lambda: dropped(service, room, "alice:video", dropped_at_mute + 40), 10,
                     "server is not dropping muted video")
    # a couple of frames may have been in flight when the mute arrived
    assert bob.video["alice"].count <= frames_at_mute + 2, "frames still arrive while muted"
    assert bob.audio["alice"].frames > 25, "audio must keep flowing while only video is muted"

    await service.set_muted(room, "alice", "video", False)
    resumed_from = bob.video["alice"].count
    await poll(lambda: bob.video["alice"].count >= resumed_from + 10, 10, "video resumes after unmute")

    await alice.close()
    await bob.close()
    await assert_released(service)
