"""A room's media node killed outright (kill -9): the survivors move the room's media.

Real `publicrooms serve` processes with media on; real aiortc peers publish a barcode video
track and a tone and count the frames they receive. The node that owns the room's media dies
with its media workers; a survivor's dead-node job frees the room and tells everyone seated to
reconnect media; they start over and the room lands on a live node.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.cluster.processes import (
    HEARTBEAT_TIMEOUT_S,
    Node,
    all_ready,
    descendants,
    is_alive,
    kill_tree,
)
from tests.conftest import REDIS_URL
from tests.integration.test_media_rooms import SocketSignalling
from tests.media.mediaclient import Participant
from tests.support.clients import SocketClient, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.media, pytest.mark.redis, pytest.mark.postgres]

ROOM = "deep-focus"
NAMESPACE = f"/public-room/{ROOM}"
MEDIA_ENV = {
    "PUBLICROOMS_MEDIA__ENABLED": "true",
    "PUBLICROOMS_MEDIA__WORKERS": "1",
    # binds and announces 127.0.0.1 only: no announced_ip needed
    "PUBLICROOMS_MEDIA__LOOPBACK_ONLY": "true",
    "PUBLICROOMS_MEDIA__PLI_THROTTLE_S": "0.3",
}
# Beyond the heartbeat timeout: a dead-node pass or two, and a loaded machine.
SLACK_S = 6.0
FRAMES = 5


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


async def seat(clients, node: Node, name: str) -> tuple[SocketClient, str]:  # noqa: ANN001
    client = await clients(node.url, NAMESPACE).connect()
    assert await client.admission() is None, name
    ack = await client.call("join-room", {"userName": name})
    assert ack["success"], ack
    assert ack["mediaConfig"]["bundlePolicy"] == "max-bundle"
    return client, ack["self"]["userId"]


async def start_media(client: SocketClient, user_id: str, tone_hz: float) -> Participant:
    """Publish and subscribe from scratch on this socket (also what media-reconnect asks)."""
    participant = Participant(SocketSignalling(client), ROOM, user_id)

    # Replaces any earlier participant's handler on this socket.
    @client.sio.on("media-offer", namespace=NAMESPACE)
    async def on_offer(payload: dict) -> None:
        asyncio.ensure_future(participant.on_event("media-offer", payload))

    await participant.publish(tone_hz=tone_hz)
    await participant.subscribe()
    return participant


async def sees(viewer: Participant, publisher: Participant, what: str) -> None:
    await wait_for(lambda: viewer.video.get(publisher.id) and
                   viewer.video[publisher.id].count >= FRAMES, what, timeout_s=40)


async def test_media_moves_when_its_node_is_killed(nodes, clients, redis_client,
                                                   redis_prefix) -> None:
    cluster = nodes(3, **MEDIA_ENV)
    await all_ready(cluster)
    doomed, second, third = cluster
    placement_key = f"{redis_prefix}media:{ROOM}"
    participants: list[Participant] = []
    try:
        # Ana, on the node about to die, publishes first: that node takes the room's media.
        ana_socket, ana_id = await seat(clients, doomed, "Ana")
        ana = await start_media(ana_socket, ana_id, 440.0)
        participants.append(ana)
        doomed_id = await redis_client.get(placement_key)
        assert doomed_id is not None
        bo_socket, bo_id = await seat(clients, second, "Bo")
        bo = await start_media(bo_socket, bo_id, 660.0)
        participants.append(bo)
        await sees(bo, ana, "Bo sees Ana through the owning node")
        await sees(ana, bo, "Ana sees Bo")
        assert await redis_client.get(placement_key) == doomed_id

        # The node goes down with its media workers, as a crashed host would.
        workers = descendants(doomed.process.pid)
        assert workers, "the owning node runs media worker processes"
        killed_at = time.monotonic()
        doomed.signal(signal.SIGKILL)
        kill_tree(workers)
        assert await doomed.exited() == -signal.SIGKILL
        await wait_for(lambda: not any(is_alive(pid) for pid in workers),
                       "the dead node's media workers are gone", timeout_s=10)

        moved = await wait_for(lambda: bo_socket.events["media-reconnect"],
                               "Bo is told to reconnect media",
                               timeout_s=HEARTBEAT_TIMEOUT_S + SLACK_S)
        told_after = time.monotonic() - killed_at
        assert moved[0] == {"reason": "media-node-gone"}, moved
        # Never before the dead node's heartbeat lapsed.
        assert told_after >= HEARTBEAT_TIMEOUT_S * 0.5, told_after
        assert await redis_client.get(placement_key) is None

        # What a client does on media-reconnect: start over on the same socket.
        await bo.close(tell_service=False)
        bo = await start_media(bo_socket, bo_id, 660.0)
        participants.append(bo)
        carol_socket, carol_id = await seat(clients, third, "Carol")
        carol = await start_media(carol_socket, carol_id, 550.0)
        participants.append(carol)
        await sees(bo, carol, "Bo sees Carol through the new owner")
        await sees(carol, bo, "Carol sees Bo")

        # The room's media now lives on a survivor: the dead node is forgotten, the owner's
        # heartbeat is live.
        owner = await redis_client.get(placement_key)
        assert owner is not None and owner != doomed_id, owner
        assert await redis_client.exists(f"{redis_prefix}node:{owner}")
        members = await redis_client.smembers(f"{redis_prefix}nodes")
        assert owner in members and doomed_id not in members, (owner, members)
        assert len(members) == 2, members
        assert len(bo_socket.events["media-reconnect"]) == 1, bo_socket.events["media-reconnect"]
    finally:
        for participant in participants:
            await participant.close(tell_service=False)
        # The survivors go too, media workers included (teardown only SIGKILLs the nodes).
        for node in cluster:
            if node.running:
                children = descendants(node.process.pid)
                node.kill()
                kill_tree(children)
