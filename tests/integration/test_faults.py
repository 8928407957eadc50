"""Redis or PostgreSQL away for 10 s: no node crashes, clear retryable errors, nothing
half-applied, and within 5 s of its return the nodes work again without a restart."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.clients import wait_for
from tests.support.faults import TcpProxy

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.cluster]

ROOM = "/public-room/deep-focus"
OUTAGE_S = 10
RECOVERY_S = 5
FAST = dict(node_heartbeat_interval_s=0.5, node_heartbeat_timeout_s=3)


async def _seat(clients, url: str, name: str):  # noqa: ANN001, ANN202
    member = await clients(url, ROOM).connect()
    ack = await member.call("join-room", {"userName": name})
    assert ack["success"], ack
    return member, ack["self"]["userId"]


async def _until(deadline: float) -> None:
    """The outage lasts its full length (this waits out a fault; it proves nothing)."""
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


def _unavailable(answer: dict) -> bool:
    error = answer.get("error", {})
    return error.get("code") == "TEMPORARILY_UNAVAILABLE" and error.get("retryAfter", 0) >= 1


async def test_redis_outage(cluster_factory, clients, http) -> None:
    from publicrooms.settings import CleanupSettings

    proxy = TcpProxy("127.0.0.1", 6379).start()
    cluster = None
    try:
        cluster = cluster_factory(redis_url=f"redis://127.0.0.1:{proxy.port}/0",
                                  cleanup=CleanupSettings(reconnect_grace_s=1,
                                                          shutdown_grace_s=1), **FAST)
        a, b, c = cluster.nodes
        ana, _ = await _seat(clients, a.url, "Ana")
        bo, _ = await _seat(clients, b.url, "Bo")
        cy, cy_id = await _seat(clients, c.url, "Cy")
        lobby = await clients(a.url, "/").connect()
        assert await lobby.admission() is None

        proxy.cut()
        ends = time.monotonic() + OUTAGE_S
        refused = await ana.call("send-message", {"content": "during the outage"})
        assert _unavailable(refused), refused
        rest = await http(b.url).get("/api/public/rooms")
        assert rest.status_code == 503 and "Retry-After" in rest.headers, rest.text
        assert rest.json()["error"]["code"] == "TEMPORARILY_UNAVAILABLE", rest.text
        newcomer = await clients(c.url, ROOM).connect(expect_refusal=True)
        rejected = await newcomer.admission()
        assert rejected is not None and rejected["code"] == "TEMPORARILY_UNAVAILABLE"
        await cy.close()  # its cleanup cannot reach Redis now
        await _until(ends)
        for node in cluster.nodes:  # nobody crashed
            assert (await http(node.url).get("/health")).status_code == 200

        proxy.restore()
        back = time.monotonic()

        async def chat_reaches_the_other_node() -> bool:
            answer = await ana.call("send-message", {"content": "back again"})
            if not answer.get("success"):
                return False
            sent = answer["message"]["id"]
            try:
                await wait_for(lambda: any(m["message"]["id"] == sent
                                           for m in bo.events["new-message"]),
                               "delivery", timeout_s=0.5)
            except AssertionError:
                return False  # that node's fan-out is not subscribed again yet
            return True

        await wait_for(chat_reaches_the_other_node, "chat works again across nodes",
                       timeout_s=RECOVERY_S, interval_s=0.1)

        async def occupancy_is_seated_sockets() -> bool:
            return await cluster.query(lambda app: app.state.seats.total()) == 2

        await wait_for(occupancy_is_seated_sockets, "occupancy equals the seated sockets",
                       timeout_s=RECOVERY_S - (time.monotonic() - back))
        await wait_for(lambda: any(e["userId"] == cy_id for e in ana.events["user-left"]),
                       "the room is told Cy left", timeout_s=RECOVERY_S)
        await wait_for(lambda: [u["currentOccupancy"] for u in
                                lobby.events["room-occupancy-update"]][-1:] == [2],
                       "the lobby is told", timeout_s=RECOVERY_S)
        contents = [m["message"]["content"] for m in bo.events["new-message"]]
        assert "during the outage" not in contents  # refused means not sent
    finally:
        if cluster is not None:
            cluster.stop()  # before the proxy: the nodes shut down with their service still away
        proxy.stop()


async def test_broadcasts_sent_while_a_node_is_cut_off_reach_it_when_it_is_back(
        cluster_factory, clients) -> None:
    """A node that lost Redis catches up on the fan-out when it is back: a message sent
    meanwhile from another node reaches its members, once and in order. (On plain pub/sub
    whatever is published before a node has subscribed again is lost to it.) The nodes wait
    5 s before reading the fan-out again, so the messages below are all sent in that gap."""
    proxy = TcpProxy("127.0.0.1", 6379).start()
    cluster = None
    try:
        cluster = cluster_factory(nodes=2, redis_url=f"redis://127.0.0.1:{proxy.port}/0",
                                  fanout_retry_s=5, **FAST)
        a, b = cluster.nodes
        ana, _ = await _seat(clients, a.url, "Ana")
        bo, _ = await _seat(clients, b.url, "Bo")
        before = await ana.call("send-message", {"content": "before"})
        await wait_for(lambda: len(bo.events["new-message"]) == 1, "Bo hears Ana")

        proxy.cut()
        await asyncio.sleep(1)   # waits out the fault; proves nothing
        proxy.restore()
        restored = time.monotonic()
        acked = [before["message"]["id"]]
        while len(acked) < 4:
            answer = await ana.call("send-message", {"content": f"after {len(acked)}"})
            if answer.get("success"):
                acked.append(answer["message"]["id"])
            else:
                assert _unavailable(answer), answer
                await asyncio.sleep(0.1)
        # All three were acknowledged before Bo's node read the fan-out again.
        assert time.monotonic() - restored < 3.5, "sending took longer than the gap under test"

        await wait_for(lambda: len(bo.events["new-message"]) >= len(acked),
                       "Bo's node catches up", timeout_s=10)
        assert [m["message"]["id"] for m in bo.events["new-message"]] == acked
    finally:
        if cluster is not None:
            cluster.stop()
        proxy.stop()


async def test_postgres_outage(cluster_factory, clients, http, pg_database_url) -> None:
    proxy = TcpProxy("127.0.0.1", 5432).start()
    cluster = None
    try:
        url = pg_database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
        cluster = cluster_factory(nodes=2, database_url=url, **FAST)
        a, b = cluster.nodes
        ana, _ = await _seat(clients, a.url, "Ana")
        bo, _ = await _seat(clients, b.url, "Bo")
        acked = [(await ana.call("send-message", {"content": "before"}))["message"]["id"]]

        proxy.cut()
        ends = time.monotonic() + OUTAGE_S
        refused = await ana.call("send-message", {"content": "during the outage"})
        assert _unavailable(refused), refused
        user = await http(b.url).post("/api/public/users", json={"displayName": "Nia"})
        assert user.status_code == 503 and user.json()["error"]["code"] == "TEMPORARILY_UNAVAILABLE"
        await _until(ends)
        for node in cluster.nodes:
            assert (await http(node.url).get("/health")).status_code == 200

        proxy.restore()

        async def chat_works() -> bool:
            answer = await bo.call("send-message", {"content": "after"})
            if answer.get("success"):
                acked.append(answer["message"]["id"])
            return bool(answer.get("success"))

        await wait_for(chat_works, "chat works again", timeout_s=RECOVERY_S, interval_s=0.2)
        # Every acknowledged message is in the history; the refused one nowhere.
        late, _ = await _seat(clients, a.url, "Late")
        history = (await late.call("join-room", {"userName": "Late"}))["recentMessages"]
        assert [m["id"] for m in history] == acked
        assert all(m["content"] != "during the outage" for m in history)
        assert all(e["message"]["content"] != "during the outage" for e in ana.events["new-message"])
    finally:
        if cluster is not None:
            cluster.stop()  # before the proxy: the nodes shut down with their service still away
        proxy.stop()
