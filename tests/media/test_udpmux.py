"""One UDP port per worker: every connection's ICE, DTLS and media on the worker's shared socket."""

from __future__ import annotations

import re
import socket

import pytest

from publicrooms.media import aiortc_adapter
from publicrooms.media.errors import MediaError
from publicrooms.media.service import MediaService

from .conftest import assert_fastpath, assert_released, join, media_settings
from .mediaclient import EventRouter, poll, poll_async

pytestmark = pytest.mark.media


def candidate_ports(sdp: str) -> set[int]:
    return {int(m.group(1)) for m in re.finditer(r"a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ host", sdp)}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_every_connection_shares_the_workers_port(service, router, fastpath):
    alice = join(service, router, "room-mux", "alice")
    viewers = [join(service, router, "room-mux", f"viewer-{i}") for i in range(3)]
    await alice.publish(tone_hz=440.0)
    for viewer in viewers:
        await viewer.subscribe()
    for viewer in viewers:
        await poll(lambda: viewer.video.get("alice") and viewer.video["alice"].count >= 10,
                   20, lambda: f"{viewer.id} got {viewer.video.get('alice')} video frames")

    stats = await service.stats()
    (worker,) = stats["workers"]
    (port,) = worker["udpPorts"]
    sdps = [alice.publish_pc.remoteDescription.sdp] + [v.subscribe_pc.remoteDescription.sdp for v in viewers]
    assert [candidate_ports(sdp) for sdp in sdps] == [{port}] * 4
    assert stats["muxConnections"] == 4 and stats["peerConnections"] == 4
    # every viewer is live now: from here each received packet's fan-out to the three of them
    # leaves in one sendmmsg (retransmissions, sent one by one outside a batch, are not counted)
    before = worker["sendBatches"]
    counts = [v.video["alice"].count for v in viewers]
    await poll(lambda: all(v.video["alice"].count >= n + 10 for v, n in zip(viewers, counts)), 20, "no more video")
    after = (await service.stats())["workers"][0]["sendBatches"]
    calls, sent = after[0] - before[0], after[1] - before[1]
    if fastpath == "compiled":
        assert calls > 0 and sent / calls >= 2.8, (calls, sent)
        # the publisher's SRTP is unprotected by the compiled demultiplexer, not Python's dispatch
        assert stats["muxRoutes"] == 1 and worker["demuxHandled"] > 0, (stats["muxRoutes"], worker["demuxHandled"])
        # and, the viewers being live, most of it forwarded by the compiled up track forward
        handled, forwarded = worker["demuxHandled"], worker["demuxForwarded"]
        assert forwarded > handled // 2, (handled, forwarded)
    else:
        assert (calls, sent) == (0, 0) and after == [0, 0]
        assert stats["muxRoutes"] == 0 and worker["demuxHandled"] == worker["demuxForwarded"] == 0

    # the viewers' receiver reports and alice's sender reports: handled in the socket's turn
    async def reports_handled() -> bool:
        return bool((await service.stats())["workers"][0]["rtcpDirect"][0] >= 4)

    await poll_async(reports_handled, 10, "no RTCP handled straight from the socket")
    assert (await service.stats())["workers"][0]["rtcpDirect"][1] == 0
    # a forged SRTCP packet from a viewer's own address is refused; that viewer's media goes on
    pair = aiortc_adapter.transport_of(viewers[0].subscribe_pc).transport._connection._nominated[1]
    pair.protocol.transport.sendto(bytes([0x80, 201, 0, 7]) + bytes(40), pair.remote_addr)

    async def forgery_refused() -> bool:
        return bool((await service.stats())["workers"][0]["rtcpDirect"][1] == 1)

    await poll_async(forgery_refused, 10, "the forged SRTCP was not refused")
    count = viewers[0].video["alice"].count
    await poll(lambda: viewers[0].video["alice"].count >= count + 10, 20, "no video after the forgery")

    for participant in [alice, *viewers]:
        await participant.close()
    await assert_released(service)


async def test_stray_datagrams_on_the_shared_port_are_dropped(service, router):
    alice = join(service, router, "room-stray", "alice")
    bob = join(service, router, "room-stray", "bob")
    await alice.publish(tone_hz=440.0)
    await bob.subscribe()
    await poll(lambda: bob.video.get("alice") and bob.video["alice"].count >= 5, 20, "no video before")
    port = (await service.stats())["workers"][0]["udpPorts"][0]
    stun_unknown_ufrag = (bytes([0, 1, 0, 12, 0x21, 0x12, 0xA4, 0x42]) + bytes(12)
                          + bytes([0, 6, 0, 8]) + b"nobody:x")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind(("127.0.0.1", 0))
        for data in (b"", b"\x00", b"\x80" * 40, b"\x16" * 30, stun_unknown_ufrag, bytes(1400)):
            stranger.sendto(data, ("127.0.0.1", port))
    before = bob.video["alice"].count
    await poll(lambda: bob.video["alice"].count >= before + 10, 20, "video stopped after stray datagrams")
    for participant in (alice, bob):
        await participant.close()
    await assert_released(service)


async def test_fixed_port_and_a_taken_one():
    port = free_udp_port()
    service = MediaService(media_settings(udp_port=port), on_event=EventRouter())
    await service.start()
    try:
        await assert_fastpath(service)
        assert [w["udpPorts"] for w in (await service.stats())["workers"]] == [[port]]
        taken = MediaService(media_settings(udp_port=port), on_event=EventRouter())
        with pytest.raises(MediaError, match=f"media UDP port: .*127.0.0.1 \\({port}\\)"):
            await taken.start()
    finally:
        await service.stop()


async def test_a_port_per_connection_when_muxing_is_off():
    router = EventRouter()
    service = MediaService(media_settings(udp_mux=False), on_event=router)
    await service.start()
    try:
        alice = join(service, router, "room-own", "alice")
        bob = join(service, router, "room-own", "bob")
        await alice.publish(tone_hz=440.0)
        await bob.subscribe()
        await poll(lambda: bob.video.get("alice") and bob.video["alice"].count >= 10, 20, "no video")
        stats = await service.stats()
        assert stats["workers"][0]["udpPorts"] == [] and stats["udpSockets"] == 2
        ports = candidate_ports(alice.publish_pc.remoteDescription.sdp) | candidate_ports(
            bob.subscribe_pc.remoteDescription.sdp)
        assert len(ports) == 2
        for participant in (alice, bob):
            await participant.close()
        await assert_released(service)
    finally:
        await service.stop()
