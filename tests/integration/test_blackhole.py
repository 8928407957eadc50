"""A client whose packets are silently dropped (no FIN, no RST): the heartbeat notices, the
grace runs out, everyone hears it leave, and no table on any node keeps a trace of it."""

from __future__ import annotations

from publicrooms.settings import CleanupSettings
from tests.support.blackhole import BlackholeProxy
from tests.support.clients import new_ip, wait_for

ROOM = "/public-room/deep-focus"


async def test_a_blackholed_client_is_released_everywhere(server_factory, clients) -> None:
    # Short heartbeat (Engine.IO ping every 1 s, 2 s to answer) and grace, through settings.
    server = server_factory(cleanup=CleanupSettings(
        engineio_ping_interval_s=1, engineio_ping_timeout_s=2, reconnect_grace_s=0.5,
        shutdown_grace_s=1))
    victim_node = server.nodes[0]
    proxy = await BlackholeProxy(victim_node.port, new_ip()).start()
    try:
        lobby = await clients(server.nodes[-1].url, "/").connect()
        watcher = await clients(server.nodes[-1].url, ROOM).connect()
        assert (await watcher.call("join-room", {"userName": "Watcher"}))["success"]
        victim = await clients(proxy.url, ROOM).connect()
        victim_id = (await victim.call("join-room", {"userName": "Victim"}))["self"]["userId"]
        conn = next(c for c in victim_node.app.registry.all() if c.user_id == victim_id)

        proxy.blackhole()

        left = await wait_for(lambda: [e for e in watcher.events["user-left"]
                                       if e["userId"] == victim_id],
                              "user-left for the blackholed client", timeout_s=30)
        assert left[0]["currentOccupancy"] == 1

        def occupancies() -> list[int]:
            return [u["currentOccupancy"] for u in lobby.events["room-occupancy-update"]
                    if u["roomId"] == "deep-focus"]

        await wait_for(lambda: occupancies()[-2:] == [2, 1], "the lobby hears the seat freed")
        assert watcher.connected and lobby.connected, "the others were never disturbed"

        for node in server.nodes:  # buffered activity goes where the sweep takes it
            await node.query(lambda a: a.state.activity.flush())
        await server.query(lambda a: a.scheduler.run_now("inactive-users"))
        for node in server.nodes:
            app = node.app
            assert not [c for c in app.registry.all() if c.user_id == victim_id]
            assert conn.eio_sid not in app.sio.session_ids()
            assert await node.query(lambda a: a.state.sessions.sockets(victim_id)) == []
            assert await node.query(lambda a: a.state.seats.seat_of(victim_id)) is None
            assert not await node.query(lambda a: a.state.holds.holding(victim_id))
            assert await node.query(
                lambda a: a.state.connections.open_connections(conn.ip_key)) == 0
            assert await node.query(lambda a: a.ctx.sql.count_participants("deep-focus")) == 1
            sizes = app.table_sizes()
            assert sizes.get("holds", 0) == 0 and sizes.get("activity", 0) == 0, sizes
    finally:
        await proxy.close()
