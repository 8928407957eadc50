"""Automatic cleanup (SPEC §7) on a live server, with a fake clock instead of waiting."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from publicrooms.clock import FakeClock
from publicrooms.settings import CleanupSettings, LimitSettings, RoomConfig
from tests.support.clients import new_ip, wait_for
from tests.support.faults import users_table_locked
from tests.support.live import LiveServer, advance

ROOM = "/public-room/deep-focus"
CHURN_CYCLES = 1000


async def holding(server, user_id: str) -> bool:  # noqa: ANN001
    return await server.query(lambda app: app.state.holds.holding(user_id))


async def holds_checked(server, witness) -> None:  # noqa: ANN001
    """Positive barrier for "no leave happened": every node releases expired holds once more
    (now, after the clock moved), then the witness's own chat message comes back to it.
    A `user-left` from that release was broadcast before the message, on the same path."""
    for node in server.nodes:
        await node.query(lambda app: app.scheduler.run_now("seat-holds"))
    before = len(witness.events["new-message"])
    ack = await witness.call("send-message", {"content": "barrier"})
    assert ack["success"], ack
    await wait_for(lambda: len(witness.events["new-message"]) > before, "own message back")


async def seated(clients, server, name, ip=None):  # noqa: ANN001, ANN201
    client = await clients(server.url, ROOM, ip).connect()
    ack = await client.call("join-room", {"userName": name})
    assert ack["success"], ack
    return client, ack["self"]["userId"]


async def test_vanished_client_is_held_for_the_grace_then_removed(server_factory,
                                                                  clients) -> None:
    clock = FakeClock()
    server = server_factory(clock=clock)
    ana, _ = await seated(clients, server, "Ana")
    bo, bo_id = await seated(clients, server, "Bo")
    await bo.drop()  # TCP aborted: no goodbye
    await wait_for(lambda: holding(server, bo_id), "seat held after the drop")
    await advance(server, clock, 9)
    await holds_checked(server, ana)
    assert not ana.events["user-left"], "no leave during the grace"
    await advance(server, clock, 2)
    gone = await wait_for(lambda: ana.events["user-left"], "leave after the grace")
    assert gone[0] == {"userId": bo_id, "currentOccupancy": 1}


async def test_reconnect_within_grace_resumes_silently(server_factory, clients) -> None:
    clock = FakeClock()
    server = server_factory(clock=clock)
    ana, _ = await seated(clients, server, "Ana")
    ip = new_ip()
    bo, bo_id = await seated(clients, server, "Bo", ip)
    joined_before = len(ana.events["user-joined"])
    await bo.drop()
    await wait_for(lambda: holding(server, bo_id), "seat held")
    again, again_id = await seated(clients, server, "Bo", ip)
    assert again_id == bo_id
    await advance(server, clock, 15)
    await holds_checked(server, ana)
    assert not ana.events["user-left"] and len(ana.events["user-joined"]) == joined_before
    assert (await again.call("send-message", {"content": "back"}))["success"]


async def test_clean_disconnect_and_zero_grace_are_immediate(server_factory, clients) -> None:
    server = server_factory(cleanup=CleanupSettings(reconnect_grace_s=0, shutdown_grace_s=1))
    ana, _ = await seated(clients, server, "Ana")
    bo, bo_id = await seated(clients, server, "Bo")
    await bo.drop()
    gone = await wait_for(lambda: ana.events["user-left"], "immediate leave with grace 0")
    assert gone[0]["userId"] == bo_id


async def test_rest_seat_without_socket_is_released(server_factory, http, clients) -> None:
    clock = FakeClock()
    server = server_factory(clock=clock)
    ana, _ = await seated(clients, server, "Ana")
    rest = http(server.url)
    user = (await rest.post("/api/public/users", json={"displayName": "Rex"})).json()
    assert (await rest.post("/api/public/rooms/deep-focus/join",
                            json={"userId": user["userId"]})).status_code == 200
    await advance(server, clock, 29)
    await holds_checked(server, ana)
    assert not ana.events["user-left"]
    await advance(server, clock, 2)
    gone = await wait_for(lambda: ana.events["user-left"], "unclaimed REST seat released")
    assert gone[0]["userId"] == user["userId"]


async def test_ping_pong_and_termination_after_three_missed(server_factory, clients) -> None:
    clock = FakeClock()
    server = server_factory(clock=clock)
    ana, _ = await seated(clients, server, "Ana")
    bo, bo_id = await seated(clients, server, "Bo")
    await advance(server, clock, 300)
    await wait_for(lambda: len(bo.events["ping"]) == 1 and len(ana.events["ping"]) == 1,
                   "idle sockets pinged")
    await ana.emit("pong")  # Ana answers; Bo never does
    for round_ in (2, 3):
        await advance(server, clock, 300)
        await wait_for(lambda r=round_: len(bo.events["ping"]) == r, f"ping {round_}")
    await wait_for(lambda: len(ana.events["ping"]) >= 2, "Ana pinged again once idle")
    await ana.emit("pong")
    await advance(server, clock, 300)
    rejected = await wait_for(lambda: bo.events["connection-rejected"], "Bo terminated")
    assert rejected[0]["code"] == "CONNECTION_TIMEOUT"
    gone = await wait_for(lambda: ana.events["user-left"], "termination frees the seat")
    assert gone[0]["userId"] == bo_id
    assert ana.connected and not ana.events["connection-rejected"]


async def test_inactive_user_is_disconnected_and_deleted(server_factory, clients, logs) -> None:
    clock = FakeClock()
    # Pings off (very long interval) so only the inactivity sweep acts.
    server = server_factory(clock=clock, cleanup=CleanupSettings(ping_interval_s=10**6,
                                                                  ping_idle_s=10**6,
                                                                  shutdown_grace_s=1))
    ana, ana_id = await seated(clients, server, "Ana")
    bo, bo_id = await seated(clients, server, "Bo")
    await bo.call("send-message", {"content": "bo was here"})
    for _ in range(6):  # Ana keeps talking every 5 minutes; Bo goes quiet
        await advance(server, clock, 300)
        await ana.call("pong")
    await advance(server, clock, 30)
    rejected = await wait_for(lambda: bo.events["connection-rejected"], "Bo disconnected",
                              timeout_s=15)
    assert rejected[0]["code"] == "CONNECTION_TIMEOUT"
    gone = await wait_for(lambda: ana.events["user-left"], "room told")
    assert gone[0] == {"userId": bo_id, "currentOccupancy": 1}
    sql = server.app.ctx.sql

    async def bo_deleted() -> bool:
        # The sweep tells the room first, then deletes (possibly on another node).
        return await server.acall(lambda: sql.get_user(bo_id)) is None

    await wait_for(bo_deleted, "Bo's record deleted")
    assert await server.acall(lambda: sql.count_messages(user_id=bo_id)) == 0
    assert await server.acall(lambda: sql.count_participants("deep-focus")) == 1
    assert await server.acall(lambda: sql.get_user(ana_id)) is not None
    # The room's history, read when Ana joined and kept since, went with them.
    cy = await clients(server.url, ROOM, "127.0.9.3").connect()
    ack = await cy.call("join-room", {"userName": "Cy"})
    assert ack["success"] and not [m for m in ack["recentMessages"] if m["senderId"] == bo_id]
    sweeps = [entry for entry in logs if entry["event"] == "inactive sweep"]
    assert sweeps[0]["removed"] == 0 and any(entry["removed"] == 1 for entry in sweeps)
    assert any(entry["event"] == "inactive user removed" and entry["user_id"] == bo_id
               for entry in logs)


async def flush_activity(server) -> None:  # noqa: ANN001
    for node in server.nodes:  # every node's buffered activity is where the sweep takes it
        await node.query(lambda a: a.state.activity.flush())


async def test_activity_during_a_slow_sweep_keeps_the_user(server_factory, clients) -> None:
    """The lost `user-left`: a sweep whose activity write was slow (CPU or database busy)
    judged users by the clock *after* the write, so someone who spoke meanwhile (Ana) was
    removed as inactive, first, and never heard that the really idle one (Bo) left."""
    clock = FakeClock()
    server = server_factory(clock=clock, cleanup=CleanupSettings(ping_interval_s=10**6,
                                                                  ping_idle_s=10**6,
                                                                  shutdown_grace_s=1))
    ana, ana_id = await seated(clients, server, "Ana")
    bo, bo_id = await seated(clients, server, "Bo")
    await flush_activity(server)
    async with users_table_locked(server) as sweep_waiting:
        await advance(server, clock, 300)
        await wait_for(sweep_waiting, "the sweep took the activity and waits to write it")
        await ana.call("pong")  # Ana is active at 5 min, after the sweep took its batch
        await flush_activity(server)
        await advance(server, clock, 1530)  # 30.5 min: only Bo has been silent for 30
    rejected = await wait_for(lambda: bo.events["connection-rejected"], "Bo disconnected",
                              timeout_s=15)
    assert rejected[0]["code"] == "CONNECTION_TIMEOUT"
    gone = await wait_for(lambda: ana.events["user-left"], "room told")
    assert gone[0] == {"userId": bo_id, "currentOccupancy": 1}
    assert not ana.events["connection-rejected"] and ana.connected
    assert await server.acall(lambda: server.app.ctx.sql.get_user(ana_id)) is not None


async def test_graceful_shutdown_tells_clients_and_ends_quickly(tmp_path, clients) -> None:
    from tests.conftest import make_settings

    server = LiveServer(make_settings(tmp_path)).start()
    ana, _ = await seated(clients, server, "Ana")
    lobby = await clients(server.url, "/").connect()
    started = time.monotonic()
    await asyncio.to_thread(server.stop)
    assert time.monotonic() - started < 5
    for client in (ana, lobby):
        await wait_for(lambda c=client: c.events["server-shutting-down"], "told of shutdown")
        await wait_for(lambda c=client: not c.connected, "disconnected")
    assert not server.app.scheduler.running
    async with httpx.AsyncClient() as probe:
        try:
            await probe.get(server.url + "/health", timeout=1)
            raise AssertionError("server still answering")
        except httpx.TransportError:
            pass


async def test_churn_leaves_every_table_empty(server_factory, clients) -> None:
    clock = FakeClock()
    server = server_factory(
        clock=clock, system_capacity=1000,
        rooms=[RoomConfig(id="deep-focus", name="Deep Focus", capacity=1000),
               RoomConfig(id="pomodoro", name="Pomodoro", capacity=1000)],
        limits=LimitSettings(window_s=1, join_per_minute=10_000, chat_per_minute=10_000,
                             rest_per_minute=10_000, connections_per_ip=1000,
                             reconnect_free_attempts=100_000),
        cleanup=CleanupSettings(reconnect_grace_s=0, shutdown_grace_s=1))

    async def cycle(i: int) -> None:
        client = await clients(server.url, f"/public-room/{['deep-focus', 'pomodoro'][i % 2]}",
                               f"127.1.{i // 200}.{i % 200 + 1}").connect()
        ack = await client.call("join-room", {"userName": f"Churn {i}"})
        assert ack["success"], ack
        await client.call("send-message", {"content": f"hello {i}"})
        if i % 3 == 0:
            await client.call("leave-room", {})
            await client.close()
        elif i % 3 == 1:
            await client.close()
        else:
            await client.drop()

    for start in range(0, CHURN_CYCLES, 40):
        await asyncio.gather(*(cycle(i) for i in range(start, start + 40)))
    nodes = [node.app for node in server.nodes]
    await wait_for(lambda: all(app.registry.table_sizes()["connections"] == 0 for app in nodes),
                   "sockets gone", timeout_s=20)
    # Let every window and history run out, then sweep.
    await advance(server, clock, 3600)
    await asyncio.sleep(1.2)  # the limits library's windows run on system time (1 s here)
    app = server.app
    for node in server.nodes:  # every node's buffered activity is where the sweep takes it
        await node.query(lambda a: a.state.activity.flush())
    await server.acall(lambda: app.scheduler.run_now("tables"))
    await server.acall(lambda: app.scheduler.run_now("inactive-users"))

    def all_empty() -> bool:
        return all(v == 0 for node in nodes for v in node.table_sizes().values())

    with contextlib.suppress(AssertionError):
        await wait_for(all_empty, "every table empty", timeout_s=10)
    for node in nodes:
        sizes = node.table_sizes()
        assert sizes == dict.fromkeys(sizes, 0)
    if server.settings.redis_url:
        # Shared state stays flat too: what is left either expires by itself or is fixed-size.
        await wait_for(lambda: lasting_keys(server.settings), "only fixed-size keys last",
                       timeout_s=10)


async def lasting_keys(settings) -> bool:  # noqa: ANN001
    """True when every key under the prefix without a TTL is one of the fixed-size ones."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    prefix = settings.redis_prefix
    try:
        lasting = []
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            if await client.pttl(key) == -1:
                lasting.append(key.removeprefix(prefix))
    finally:
        await client.aclose()
    # A counter, the node set, the capped fan-out stream, one timer per room.
    fixed = {"queue:seq", "nodes", "socketio", "timers"}
    assert set(lasting) <= fixed, sorted(set(lasting) - fixed)[:20]
    return True
