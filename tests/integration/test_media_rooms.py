"""Camera and microphone end to end: Socket.IO signalling on a live server, SFU workers, aiortc
peers on both sides checking that video frames and the tone really arrive."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from publicrooms.media.settings import MediaSettings
from tests.media.mediaclient import Participant
from tests.support.clients import SocketClient, wait_for

pytestmark = pytest.mark.media
ROOM = "/public-room/deep-focus"


class SocketSignalling:
    """MediaService's calls, made over a participant's Socket.IO connection instead."""

    def __init__(self, client: SocketClient) -> None:
        self.client = client

    async def _call(self, event: str, data: dict[str, Any]) -> Any:
        ack = await self.client.call(event, data, timeout_s=20)
        assert "error" not in ack, (event, ack)
        return ack

    async def publish(self, room_id: str, participant_id: str, offer_sdp: str) -> str:
        return (await self._call("media-publish", {"sdp": offer_sdp}))["sdp"]

    async def subscribe(self, room_id: str, participant_id: str) -> dict | None:
        return (await self._call("media-subscribe", {}))["offer"]

    async def subscriber_answer(self, room_id: str, participant_id: str, answer_sdp: str,
                                offer_id: int | None = None) -> None:
        await self._call("media-answer", {"sdp": answer_sdp, "offerId": offer_id})

    async def close_participant(self, room_id: str, participant_id: str) -> None:
        await self._call("leave-room", {})


async def person(server, clients, name: str, tone_hz: float) -> tuple[SocketClient, Participant, dict]:  # noqa: ANN001, E501
    client = await clients(server.url, ROOM).connect()
    ack = await client.call("join-room", {"userName": name})
    assert ack["success"], ack
    assert ack["mediaConfig"]["bundlePolicy"] == "max-bundle"
    participant = Participant(SocketSignalling(client), "deep-focus", ack["self"]["userId"])

    @client.sio.on("media-offer", namespace=ROOM)
    async def on_offer(payload: dict) -> None:
        asyncio.ensure_future(participant.on_event("media-offer", payload))

    await participant.publish(tone_hz=tone_hz)
    await participant.subscribe()
    return client, participant, ack


async def test_two_people_see_and_hear_each_other_through_the_server(server_factory,
                                                                     clients) -> None:
    server = server_factory(media=MediaSettings(workers=1, loopback_only=True,
                                                pli_throttle_s=0.3))
    ana_socket, ana, _ = await person(server, clients, "Ana", 440.0)
    bo_socket, bo, bo_ack = await person(server, clients, "Bo", 660.0)
    assert {m["participantId"] for m in bo_ack["media"]} == {ana.id}
    if len(server.nodes) > 1:
        # Ana and Bo signal through different nodes; the room's media lives on one of them.
        assert ana_socket.base_url != bo_socket.base_url
        owners = [node for node in server.nodes if node.app.media.has_room("deep-focus")]
        assert len(owners) == 1 and owners[0].url == ana_socket.base_url
    try:
        for viewer, publisher, tone in ((ana, bo, 660.0), (bo, ana, 440.0)):
            await wait_for(lambda v=viewer, p=publisher: v.video.get(p.id) and
                           v.video[p.id].count >= 15, f"{viewer.id} sees video", timeout_s=30)
            await wait_for(lambda v=viewer, p=publisher: v.audio.get(p.id) and
                           v.audio[p.id].frames >= 50, f"{viewer.id} hears audio", timeout_s=15)
            stats = viewer.video[publisher.id]
            assert stats.sizes == {(640, 480)}
            numbers = [n for _, n in stats.frames[-10:]]
            assert numbers == sorted(numbers) and numbers[-1] > numbers[0]
            assert abs(viewer.tone_of(publisher.id) - tone) < 15

        # Camera off: the toggle event fires and frames stop arriving; back on, they resume.
        ack = await bo_socket.call("toggle-video", {"userId": bo.id, "enabled": False})
        assert ack["success"]
        await wait_for(lambda: {"userId": bo.id, "enabled": False} in
                       ana_socket.events["participant-video-toggle"], "toggle event")
        # Bo's microphone stays on: his audio, sent on the same path, is the barrier. Once
        # 0.5 s of audio sent after the toggle has arrived, video in flight has drained; once
        # another second of it has arrived, video would have arrived too if still forwarded.
        heard = ana.audio[bo.id]
        mark = heard.frames
        await wait_for(lambda: heard.frames >= mark + 25, "0.5 s more of Bo's audio")
        count = ana.video[bo.id].count
        mark = heard.frames
        await wait_for(lambda: heard.frames >= mark + 50, "1 s more of Bo's audio")
        assert ana.video[bo.id].count - count <= 1, "video still forwarded with the camera off"
        await bo_socket.call("toggle-video", {"userId": bo.id, "enabled": True})
        await wait_for(lambda: ana.video[bo.id].count > count + 10, "video resumes")

        # Leaving removes Bo's tracks from Ana's subscription.
        offers_before = ana.offers
        await bo.close()
        await wait_for(lambda: ana.offers > offers_before and
                       all(t["participantId"] != bo.id for t in ana.tracks), "Bo's tracks gone",
                       timeout_s=15)
        await wait_for(lambda: {"userId": bo.id, "currentOccupancy": 1} in
                       ana_socket.events["user-left"], "user-left")
        await ana.close()
    finally:
        for participant in (ana, bo):
            await participant.close(tell_service=False)

    media = server.app.media
    keys = ("peerConnections", "udpSockets", "upTracks", "downTracks", "rooms")

    async def released() -> bool:
        stats = await server.acall(media.stats)
        return all(stats[key] == 0 for key in keys)

    await wait_for(released, "every media resource released", timeout_s=20)


async def test_disconnect_closes_media(server_factory, clients) -> None:
    from publicrooms.settings import CleanupSettings

    server = server_factory(media=MediaSettings(workers=1, loopback_only=True),
                            cleanup=CleanupSettings(reconnect_grace_s=0, shutdown_grace_s=1))
    _, ana, _ = await person(server, clients, "Ana", 440.0)
    bo_socket, bo, _ = await person(server, clients, "Bo", 660.0)
    try:
        await wait_for(lambda: ana.video.get(bo.id) and ana.video[bo.id].count >= 5,
                       "video flows", timeout_s=30)
        started = time.monotonic()
        await bo_socket.drop()
        await wait_for(lambda: all(t["participantId"] != bo.id for t in ana.tracks),
                       "a dropped socket's tracks are removed", timeout_s=15)
        assert time.monotonic() - started < 15
    finally:
        for participant in (ana, bo):
            await participant.close(tell_service=False)


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.cluster
async def test_media_moves_when_its_node_stops(cluster_factory, clients) -> None:
    cluster = cluster_factory(media=MediaSettings(workers=1, loopback_only=True,
                                                  pli_throttle_s=0.3))
    owner, second, third = cluster.nodes
    ana_socket, ana, _ = await person(owner, clients, "Ana", 440.0)
    bo_socket, bo, _ = await person(second, clients, "Bo", 660.0)
    carol = None
    try:
        await wait_for(lambda: bo.video.get(ana.id) and bo.video[ana.id].count >= 5,
                       "Bo sees Ana through the owning node", timeout_s=30)
        assert owner.app.media.has_room("deep-focus")

        await asyncio.to_thread(owner.stop)
        moved = await wait_for(lambda: bo_socket.events["media-reconnect"],
                               "Bo is told to reconnect media", timeout_s=15)
        assert moved[0] == {"reason": "media-node-stopped"}
        # What a client does on media-reconnect: start over; the room lands on a live node.
        await bo.close(tell_service=False)
        bo = Participant(SocketSignalling(bo_socket), "deep-focus", bo.id)

        @bo_socket.sio.on("media-offer", namespace=ROOM)
        async def on_offer(payload: dict) -> None:
            asyncio.ensure_future(bo.on_event("media-offer", payload))

        await bo.publish(tone_hz=660.0)
        await bo.subscribe()
        assert second.app.media.has_room("deep-focus")
        carol_socket, carol, _ = await person(third, clients, "Carol", 550.0)
        await wait_for(lambda: bo.video.get(carol.id) and bo.video[carol.id].count >= 5,
                       "Bo sees Carol through the new owner", timeout_s=30)
        await wait_for(lambda: carol.video.get(bo.id) and carol.video[bo.id].count >= 5,
                       "Carol sees Bo", timeout_s=30)
    finally:
        for participant in (ana, bo, carol):
            if participant is not None:
                await participant.close(tell_service=False)
