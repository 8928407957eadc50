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


async def test_leaving_removes_tracks_from_everyone(service, router):
    room = "room-leave"
    alice, bob, carol = (join(service, router, room, pid) for pid in ("alice", "bob", "carol"))
    await alice.publish(fps=10)
    await bob.publish(fps=10)
    await carol.subscribe()
    await poll(lambda: {"alice", "bob"} <= set(carol.video) and all(s.count >= 5 for s in carol.video.values()),
               20, "carol sees alice and bob")
    offers_before = carol.offers

    await alice.close()
    await poll(lambda: carol.offers > offers_before and {t["participantId"] for t in carol.tracks} == {"bob"},
               10, lambda: f"carol still has tracks {carol.tracks}")
    assert [m["participantId"] for m in service.room_media(room)] == ["bob", "bob"]
    stats = await service.stats()
    assert stats["upTracks"] == 2 and stats["downTracks"] == 2, stats
    frames = carol.video["bob"].count
    await poll(lambda: carol.video["bob"].count >= frames + 5, 10, "bob's video keeps flowing to carol")

    await bob.close()
    await carol.close()
    await assert_released(service)


async def test_republish_continues_the_same_tracks(service, router):
    """A publisher reconnecting (new connection, new SSRC) continues seamlessly for subscribers."""
    room = "room-republish"
    alice, bob = join(service, router, room, "alice"), join(service, router, room, "bob")
    await alice.publish()
    await bob.subscribe()
    await poll(lambda: bob.video.get("alice") and bob.video["alice"].count >= 10, 20, "video before re-publish")
    offers = bob.offers

    await alice.publish(tone_hz=880.0)  # a fresh connection and fresh encoders
    frames = bob.video["alice"].count
    await poll(lambda: bob.video["alice"].count >= frames + 15, 15, "video after re-publish")
    await poll(lambda: abs(bob.tone_of("alice", 0.5) - 880.0) < 15, 10,
               lambda: f"bob hears {bob.tone_of('alice', 0.5)} Hz after re-publish")
    assert bob.offers == offers, "re-publishing the same kinds must not renegotiate subscribers"

    await alice.close()
    await bob.close()
    await assert_released(service)


async def test_active_speaker_is_reported(service, router):
    room = "room-speaker"
    loud, quiet, listener = (join(service, router, room, pid) for pid in ("loud", "quiet", "listener"))
    await quiet.publish(video=False, tone_hz=300.0)
    quiet.audio_track.amplitude = 0.0005  # about -66 dBov: below the speaking threshold
    await loud.publish(video=False, tone_hz=500.0)
    await listener.subscribe()
    await poll(lambda: any(e == "active-speaker" for _, e, _ in router.room_events), 10, "no active-speaker event")
    speakers = [p["userId"] for _, e, p in router.room_events if e == "active-speaker"]
    assert speakers == ["loud"], speakers

    for person in (loud, quiet, listener):
        await person.close()
    await assert_released(service)


async def test_lost_packets_are_retransmitted(service, router):
    room = "room-nack"
    alice, bob = join(service, router, room, "alice"), join(service, router, room, "bob")
    await alice.publish(audio=False)
    await bob.subscribe()
    await poll(lambda: bob.subscribe_pc.connectionState == "connected", 10, "bob connects")

    # drop every 15th video packet before bob's aiortc sees it: its NACKs must be answered
    dtls = aiortc_adapter.transport_of(bob.subscribe_pc)
    original = dtls._handle_rtp_data
    seen = {"n": 0}

    async def lossy(data: bytes, arrival_time_ms: int) -> None:
        seen["n"] += 1
        if seen["n"] % 15 == 0 and seen["n"] < 400:
            return
        await original(data, arrival_time_ms)

    dtls._handle_rtp_data = lossy
    await poll(lambda: bob.video.get("alice") and bob.video["alice"].count >= 45, 30,
               lambda: f"bob decoded {bob.video.get('alice') and bob.video['alice'].count} frames despite loss")
    stats = await service.stats()
    assert stats["retransmits"] > 0, "no retransmissions happened"
    # bob's NACKs were handled in the shared socket's turn (not through aiortc's reader), none refused
    direct, refused = stats["workers"][0]["rtcpDirect"]
    assert direct > 0 and refused == 0, (direct, refused)
    numbers = [n for _, n in bob.video["alice"].frames]
    gaps = [b - a for a, b in zip(numbers, numbers[1:])]
    assert max(gaps) <= 3, f"frames lost despite retransmission: {numbers}"

    await alice.close()
    await bob.close()
    await assert_released(service)


async def test_a_closed_publish_connection_drops_its_tracks_after_the_grace(service, router):
    room = "room-drop"
    alice, bob = join(service, router, room, "alice"), join(service, router, room, "bob")
    await alice.publish(video=False)
    await bob.subscribe()
    await poll(lambda: bob.audio.get("alice") and bob.audio["alice"].frames >= 10, 10, "audio flows")

    await alice.publish_pc.close()  # the browser closed it, no leave-room (yet)
    await poll(lambda: bob.offers >= 2 and bob.tracks == [], 10, lambda: f"bob still has {bob.tracks}")

    await alice.close()
    await bob.close()
    await assert_released(service)


async def test_muted_before_publishing_is_not_forwarded(service, router):
    room = "room-premute"
    alice, bob = join(service, router, room, "alice"), join(service, router, room, "bob")
    await service.set_muted(room, "alice", "video", True)  # joined with the camera off
    await alice.publish()
    await bob.subscribe()
    await poll(lambda: bob.audio.get("alice") and bob.audio["alice"].frames >= 50, 15, "audio flows")
    assert bob.video.get("alice") is None or bob.video["alice"].count == 0, "muted video was forwarded"
    assert {"participantId": "alice", "kind": "video", "muted": True} in service.room_media(room)

    await service.set_muted(room, "alice", "video", False)
    await poll(lambda: bob.video.get("alice") and bob.video["alice"].count >= 5, 15, "video after unmute")

    await alice.close()
    await bob.close()
    await assert_released(service)
