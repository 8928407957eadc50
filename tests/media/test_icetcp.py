"""ICE over TCP on each worker's shared port, against the real workers.

aiortc has no ICE-TCP client, so the TCP side is icetcp.probe (what a browser's active TCP
candidate does: connect, send a check, answer the server's); media itself over TCP is proven
with Chromium in tests/browser/test_media_network.py.
"""

from __future__ import annotations

import re
import socket

import pytest

from publicrooms.media import icetcp
from publicrooms.media.errors import MediaError
from publicrooms.media.service import MediaService

from .conftest import assert_released, join, media_settings
from .mediaclient import EventRouter, poll, poll_async

pytestmark = pytest.mark.media

TCP_CANDIDATE = re.compile(r"a=candidate:\S+ 1 tcp \d+ 127\.0\.0\.1 (\d+) typ host tcptype passive")


def ice_credentials(sdp: str) -> tuple[str, str]:
    return re.search(r"a=ice-ufrag:(\S+)", sdp).group(1), re.search(r"a=ice-pwd:(\S+)", sdp).group(1)


async def tcp_streams(service: MediaService) -> list[list[int]]:
    (worker,) = (await service.stats())["workers"]
    return worker["tcpStreams"]


async def test_a_check_over_tcp_reaches_the_connection_its_username_names(service, router):
    alice = join(service, router, "room-tcp", "alice")
    bob = join(service, router, "room-tcp", "bob")
    await alice.publish(tone_hz=440.0)
    await bob.subscribe()
    await poll(lambda: bob.video.get("alice") and bob.video["alice"].count >= 5, 20, "no video")

    (worker,) = (await service.stats())["workers"]
    assert worker["tcpPorts"] == worker["udpPorts"]
    server_sdp = bob.subscribe_pc.remoteDescription.sdp
    assert {int(p) for p in TCP_CANDIDATE.findall(server_sdp)} == set(worker["tcpPorts"])
    server = ice_credentials(server_sdp)
    client = ice_credentials(bob.subscribe_pc.localDescription.sdp)
    port = worker["tcpPorts"][0]

    # a forged check (wrong password, or nobody's username) gets nothing and its stream closed
    assert not await icetcp.probe(port, client, (server[0], "not-the-password"), timeout_s=2, controlling=False)
    assert not await icetcp.probe(port, client, ("nobody", server[1]), timeout_s=2, controlling=False)
    # the real credentials: answered, and the server (which offered, so it nominates) checks back
    # over the same stream, but keeps the nominated UDP pair
    assert await icetcp.probe(port, client, server, controlling=False)
    await poll_async(lambda: _no_streams(service), 10, "TCP streams left open")

    before = bob.video["alice"].count  # UDP, still nominated, carried on throughout
    await poll(lambda: bob.video["alice"].count >= before + 10, 20, "video stopped")
    for participant in (alice, bob):
        await participant.close()
    await assert_released(service)


async def _no_streams(service: MediaService) -> bool:
    return await tcp_streams(service) == [[0, 0]]


async def test_ice_tcp_off_announces_and_opens_no_tcp_port(fastpath):  # noqa: ANN001
    router = EventRouter()
    service = MediaService(media_settings(ice_tcp=False), on_event=router)
    await service.start()
    try:
        alice = join(service, router, "room-udp-only", "alice")
        await alice.publish(tone_hz=440.0)
        (worker,) = (await service.stats())["workers"]
        assert worker["tcpPorts"] == [] and worker["tcpStreams"] == []
        answer = alice.publish_pc.remoteDescription.sdp
        assert " udp " in answer and not TCP_CANDIDATE.search(answer)
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", worker["udpPorts"][0]), 2):
            pass
        await alice.close()
        await assert_released(service)
    finally:
        await service.stop()


async def test_a_fixed_port_whose_tcp_twin_is_taken_fails_clearly(fastpath):  # noqa: ANN001
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        service = MediaService(media_settings(udp_port=port), on_event=EventRouter())
        with pytest.raises(MediaError, match=f"ICE over TCP on 127.0.0.1 port {port}"):
            await service.start()
