"""Packets from one publisher reach every subscriber intact: frame numbers, size, tone."""

from __future__ import annotations

import time

import pytest

from publicrooms.media.service import MediaService

from .conftest import assert_released, join, media_settings
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
    assert sorted(service.room_media(room), key=lambda m: m["kind"]) == [
        {"participantId": "alice", "kind": "audio", "muted": False},
        {"participantId": "alice", "kind": "video", "muted": False},
    ]

    for participant in [alice, *viewers]:
        await participant.close()
    await assert_released(service)


async def test_several_publishers_see_each_other(service, router):
    room = "room-2"
    tones = {"ann": 330.0, "bob": 550.0, "cat": 770.0}
    people = {pid: join(service, router, room, pid) for pid in tones}
    for pid, person in people.items():
        await person.publish(tone_hz=tones[pid], fps=10)
        await person.subscribe()

    for pid, person in people.items():
        others = [o for o in tones if o != pid]
        await poll(lambda: all(person.video.get(o) and person.video[o].count >= 10 for o in others), 30,
                   lambda: f"{pid} video: { {o: person.video[o].count for o in person.video} }")
        await poll(lambda: all(person.audio.get(o) and person.audio[o].frames >= 50 for o in others), 10,
                   f"{pid} audio from {others}")
        assert pid not in person.video, f"{pid} receives its own video"
        for other in others:
            tone = person.tone_of(other)
            assert abs(tone - tones[other]) < 15, f"{pid} hears {tone} Hz from {other}, expected {tones[other]}"
            assert person.video[other].sizes == {(640, 480)}
        assert sorted(t["participantId"] for t in person.tracks if t["kind"] == "video") == sorted(others)

    for person in people.values():
        await person.close()
    await assert_released(service)


async def test_late_joiner_gets_a_keyframe_within_a_second(service, router):
    room = "room-3"
    alice = join(service, router, room, "alice")
    early = join(service, router, room, "early")
    await alice.publish(audio=False)
    await early.subscribe()
    await poll(lambda: early.video.get("alice") and early.video["alice"].count >= 30, 20, "early viewer gets video")

    late = join(service, router, room, "late")
    await late.subscribe()
    await poll(lambda: late.subscribe_pc.connectionState == "connected", 10, "late viewer connects")
    connected_at = time.monotonic()
    await poll(lambda: late.video.get("alice") and late.video["alice"].count >= 1, 5, "late viewer decodes a frame")
    first_frame_s = late.video["alice"].frames[0][0] - connected_at
    assert first_frame_s < 1.0, f"first decodable frame {first_frame_s:.2f}s after connecting"

    for person in (alice, early, late):
        await person.close()
    await assert_released(service)


async def test_sender_reports_reach_a_subscriber_in_one_compound_per_period(router):
    """Video reports every rtcp_interval_s, audio every audio_report_interval_s; what one
    connection is due in a period arrives as one compound RTCP packet (several SRs)."""
    from aiortc.rtp import RtcpPacket, RtcpSrPacket

    service = MediaService(media_settings(rtcp_interval_s=0.2, audio_report_interval_s=1.0),
                           on_event=router)
    await service.start()
    try:
        alice = join(service, router, "room-sr", "alice")
        viewer = join(service, router, "room-sr", "viewer")
        await alice.publish(tone_hz=440.0)
        await viewer.subscribe()
        await poll(lambda: viewer.video.get("alice") and viewer.video["alice"].count >= 5, 20,
                   "no video reached the viewer")
        compounds: list[list[int]] = []  # the SR senders' SSRCs of each RTCP packet
        dtls = viewer.subscribe_pc.getTransceivers()[0].receiver.transport
        original = dtls._handle_rtcp_data

        async def recording(data: bytes) -> None:
            senders = [p.ssrc for p in RtcpPacket.parse(data) if isinstance(p, RtcpSrPacket)]
            if senders:
                compounds.append(senders)
            await original(data)

        dtls._handle_rtcp_data = recording
        await poll(lambda: sum(len(c) > 1 for c in compounds) >= 2, 10,
                   lambda: f"no compound of several sender reports arrived: {compounds}")
        start = len(compounds)
        await poll(lambda: len(compounds) - start >= 15, 10, "video sender reports stopped")
        window = compounds[start:start + 15]
        by_ssrc: dict[int, int] = {}
        for senders in window:
            assert len(senders) == len(set(senders)) <= 2, window  # at most one SR per track
            for ssrc in senders:
                by_ssrc[ssrc] = by_ssrc.get(ssrc, 0) + 1
        # Video every 0.2 s, audio every 1 s: a fifth as often (give or take a timer that
        # fired a turn late and sent its report alone).
        audio, video = sorted(by_ssrc.values())
        assert 13 <= video <= 15 and 2 <= audio <= 4, by_ssrc
        stats = await service.stats()
        counters = stats["workers"][0]["counters"]
        assert counters["rtcp_compounds"] < counters["sender_reports"], counters
    finally:
        for participant in list(router.participants.values()):
            await participant.close(tell_service=False)
        await service.stop()
