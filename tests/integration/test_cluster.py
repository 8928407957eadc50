"""Scenarios that only exist with several nodes: one server across three Redis-linked nodes."""

from __future__ import annotations

import asyncio
import random

import pytest

from publicrooms.clock import FakeClock
from publicrooms.settings import LimitSettings, RoomConfig
from tests.conftest import REDIS_URL, make_settings
from tests.support.clients import new_ip, wait_for
from tests.support.live import LiveServer, advance

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.cluster]

ROOM = "/public-room/deep-focus"


def updates_for(lobby, room_id: str) -> list[int]:  # noqa: ANN001
    return [u["currentOccupancy"] for u in lobby.events["room-occupancy-update"]
            if u["roomId"] == room_id]


async def test_chat_and_lobby_reach_every_node_exactly_once(cluster_factory, clients) -> None:
    cluster = cluster_factory()
    lobbies = [await clients(node.url, "/").connect() for node in cluster.nodes]
    members = [await clients(node.url, ROOM).connect() for node in cluster.nodes]
    for i, member in enumerate(members):
        assert (await member.call("join-room", {"userName": f"M{i}"}))["success"]
    for lobby in lobbies:
        await wait_for(lambda lobby=lobby: updates_for(lobby, "deep-focus") == [1, 2, 3],
                       "every lobby, on every node, sees 1, 2, 3")
    sent = []
    for round_ in range(3):
        for i, member in enumerate(members):
            ack = await member.call("send-message", {"content": f"{round_}-{i}"})
            sent.append(ack["message"]["id"])
    # A last message is a barrier: fan-out keeps publish order, so a duplicate of any earlier
    # message would arrive before it.
    marker = (await members[0].call("send-message", {"content": "marker"}))["message"]["id"]
    for member in members:
        await wait_for(lambda m=member: any(e["message"]["id"] == marker
                                            for e in m.events["new-message"]),
                       "the marker reaches every member")
        ids = [e["message"]["id"] for e in member.events["new-message"]]
        assert ids == [*sent, marker], "each message once, in send order, on every node"


async def test_limits_hold_across_nodes(cluster_factory, clients, http) -> None:
    cluster = cluster_factory(limits=LimitSettings(rest_per_minute=3, join_per_minute=2,
                                                   chat_per_minute=6, connections_per_ip=3))
    ip = new_ip()
    # REST: one budget per endpoint, whichever node answers.
    statuses = [(await http(node.url, ip).get("/api/public/rooms")).status_code
                for node in [*cluster.nodes, cluster.nodes[0]]]
    assert statuses == [200, 200, 200, 429]
    # Chat: one user's budget follows them to another node (a second tab there takes the
    # seat over; the first is closed).
    first = await clients(cluster.nodes[0].url, ROOM, ip).connect()
    assert (await first.call("join-room", {"userName": "Tabs"}))["success"]
    results = [await first.call("send-message", {"content": f"m{i}"}) for i in range(3)]
    second = await clients(cluster.nodes[1].url, ROOM, ip).connect()
    assert (await second.call("join-room", {"userName": "Tabs"}))["success"]
    results += [await second.call("send-message", {"content": f"m{i}"}) for i in range(3, 7)]
    assert [("success" in r) for r in results] == [True] * 6 + [False]
    assert results[6]["error"]["code"] == "CHAT_RATE_LIMIT_EXCEEDED"
    # Joins: one budget over REST on every node (2 here; the REST budget is 3).
    other = new_ip()
    user_id = (await http(cluster.nodes[2].url, other).post(
        "/api/public/users", json={"displayName": "J"})).json()["userId"]
    answers = [await http(node.url, other).post("/api/public/rooms/deep-focus/join",
                                                json={"userId": user_id})
               for node in cluster.nodes]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "JOIN_LIMIT_EXCEEDED"


async def test_each_sweep_runs_on_exactly_one_node_per_period(cluster_factory) -> None:
    clock = FakeClock()
    cluster = cluster_factory(clock=clock)
    jobs = ("inactive-users", "tables")

    async def counts() -> list[dict[str, tuple[int, int]]]:
        return await cluster.each(lambda app: _job_counts(app, jobs))

    async def every_node_ticked(job: str, ticks: int) -> bool:
        return all(node[job][0] >= ticks for node in await counts())

    # The sweeps' intervals (30 s and 60 s): each step of 30 s is one new period of the first,
    # every second step one of the other. Every node ticks each period; one runs it.
    for step in range(9):
        if step:
            await advance(cluster, clock, 30)
        await wait_for(lambda s=step: every_node_ticked("inactive-users", s + 1),
                       f"step {step}: every node ticked the inactive sweep")
        await wait_for(lambda s=step: every_node_ticked("tables", s // 2 + 1),
                       f"step {step}: every node ticked the table sweep")
    per_node = await counts()
    for job, periods in (("inactive-users", 9), ("tables", 5)):
        assert all(node[job][0] == periods for node in per_node), per_node
        executed = sum(node[job][1] for node in per_node)
        assert executed == periods, f"{job}: {executed} runs for {periods} periods ({per_node})"


async def _job_counts(app, jobs) -> dict[str, tuple[int, int]]:  # noqa: ANN001
    return {name: (app.scheduler.jobs[name].runs, app.scheduler.jobs[name].executed)
            for name in jobs}


async def test_a_starting_node_keeps_the_others_records(cluster_factory, clients,
                                                        tmp_path) -> None:
    cluster = cluster_factory(nodes=2)
    member = await clients(cluster.url, ROOM).connect()
    assert (await member.call("join-room", {"userName": "Stays"}))["success"]
    late = LiveServer(make_settings(tmp_path / "late", redis_url=REDIS_URL,
                                    redis_prefix=cluster.settings.redis_prefix,
                                    database_url=cluster.settings.database_url)).start()
    try:
        assert await late.query(lambda app: app.state.seats.total()) == 1
        assert await late.query(lambda app: app.ctx.sql.count_participants("deep-focus")) == 1
        assert (await member.call("send-message", {"content": "still here"}))["success"]
    finally:
        late.stop()


async def test_five_hundred_joins_over_three_nodes_against_capacity_100(cluster_factory,
                                                                         clients) -> None:
    rooms = [RoomConfig(id=f"r{i}", name=f"R{i}", capacity=60) for i in range(5)]
    cluster = cluster_factory(rooms=rooms, system_capacity=100)
    people = []
    for start in range(0, 500, 50):
        batch = [clients(cluster.url, f"/public-room/r{random.randrange(5)}")
                 for _ in range(start, start + 50)]
        people += await asyncio.gather(*(p.connect() for p in batch))
    highest = 0
    sampling = True

    async def sample() -> None:
        nonlocal highest
        while sampling:
            highest = max(highest, await cluster.query(lambda app: app.state.seats.total()))
            await asyncio.sleep(0.002)

    sampler = asyncio.create_task(sample())
    acks = await asyncio.gather(*(p.call("join-room", {"userName": f"P{i}"}, timeout_s=60)
                                  for i, p in enumerate(people)))
    codes = sorted({a["error"]["code"] for a in acks if "error" in a})
    assert codes == ["SYSTEM_AT_CAPACITY"], [a for a in acks if "error" in a and
                                             a["error"]["code"] != "SYSTEM_AT_CAPACITY"][:3]
    seated = [p for p, a in zip(people, acks) if a.get("success")]
    waiting = {a["error"]["details"]["position"]: p for p, a in zip(people, acks)
               if "error" in a}
    assert len(seated) == 100 and sorted(waiting) == list(range(1, 401))
    assert all(a["error"]["code"] == "SYSTEM_AT_CAPACITY" for a in acks if "error" in a)
    # The queue holds them in the order their positions say.
    order = [e.user_id for e in await cluster.query(lambda app: app.state.seats.queue())]
    assert len(order) == 400
    # Ten leave (on whatever nodes): the first ten waiters are admitted, the rest move up ten.
    await asyncio.gather(*(p.call("leave-room", {}) for p in seated[:10]))
    for position in range(1, 11):
        await wait_for(lambda p=waiting[position]: p.events["queue-admitted"],
                       f"waiter {position} admitted")
    for position in (11, 200, 400):
        await wait_for(lambda p=waiting[position], pos=position: any(
            e["position"] == pos - 10 for e in p.events["queue-position-changed"]),
            f"waiter {position} told its new place")
    assert not any(waiting[p].events["queue-admitted"] for p in range(11, 401))
    sampling = False
    await sampler
    assert highest <= 100 and await cluster.query(lambda app: app.state.seats.total()) == 100
    remaining = [e.user_id for e in await cluster.query(lambda app: app.state.seats.queue())]
    assert remaining == order[10:]


async def test_a_room_whose_chat_waits_does_not_hold_up_another_room(cluster_factory,
                                                                      clients) -> None:
    """Chat writers take turns per room (history order equals delivery order on every node);
    a room whose turn is held up leaves the other rooms' chat flowing."""
    import asyncpg

    from publicrooms.store.sql import CHAT_LOCK

    cluster = cluster_factory()
    ana = await clients(cluster.nodes[0].url, ROOM).connect()
    bo = await clients(cluster.nodes[1].url, "/public-room/pomodoro").connect()
    assert (await ana.call("join-room", {"userName": "Ana"}))["success"]
    assert (await bo.call("join-room", {"userName": "Bo"}))["success"]
    dsn = cluster.settings.resolved_database_url.replace("postgresql+asyncpg://", "postgresql://")
    holder = await asyncpg.connect(dsn)
    try:
        await holder.execute("SELECT pg_advisory_lock($1, hashtext('deep-focus'))", CHAT_LOCK)
        held = asyncio.ensure_future(ana.call("send-message", {"content": "waits its turn"}))

        async def ana_waits() -> bool:
            return bool(await holder.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND classid = $1::bigint::oid", CHAT_LOCK))

        await wait_for(ana_waits, "Ana's message waits for the deep-focus chat turn")
        other = await bo.call("send-message", {"content": "another room goes on"})
        assert other["success"], other
        assert not held.done(), "deep-focus's message went out while its turn was held"
        await holder.execute("SELECT pg_advisory_unlock($1, hashtext('deep-focus'))", CHAT_LOCK)
        assert (await held)["success"]
    finally:
        await holder.close()


async def test_a_chat_burst_over_nodes_goes_out_in_batches_and_in_history_order(
        cluster_factory, clients) -> None:
    """The messages a node commits together go to every node in one append, several to a room
    in one broadcast; every member, on every node, still sees each room's messages once, in
    the order of its history."""
    cluster = cluster_factory(chat_commit_window_s=0.1)
    rooms = [ROOM, "/public-room/pomodoro"]

    async def appended(app) -> tuple[int, int]:  # noqa: ANN001
        manager = app.sio.manager
        return manager.in_order_entries, manager.in_order_appends

    # Three members of each room on each node.
    members = {room: [await clients(node.url, room).connect() for node in cluster.nodes
                      for _ in range(3)] for room in rooms}
    for room, people in members.items():
        for i, member in enumerate(people):
            assert (await member.call("join-room", {"userName": f"M{i}"}))["success"]
    # Every member sends two, all at once (a socket's second waits for its first): each node's
    # log gets six messages, three to each room, within one commit window, twice.
    acks = await asyncio.gather(*(member.call("send-message", {"content": f"{room}-{i}-{n}"})
                                  for n in range(2) for room, people in members.items()
                                  for i, member in enumerate(people)))
    assert all(ack["success"] for ack in acks), acks
    entries, appends = map(sum, zip(*await cluster.each(appended)))
    assert entries < len(acks), "no room got several messages in one broadcast"
    assert appends < entries, "no batch went to the other nodes in one round trip"
    for room, people in members.items():
        late = await clients(cluster.nodes[0].url, room).connect()
        joined = await late.call("join-room", {"userName": "Late"})
        history = [m["id"] for m in joined["recentMessages"]]
        assert len(history) == 18
        for member in people:
            await wait_for(lambda m=member: len(m.events["new-message"]) >= 18,
                           "every message reaches every member")
            assert [e["message"]["id"] for e in member.events["new-message"]] == history, \
                "each message once, in history order, on every node"
