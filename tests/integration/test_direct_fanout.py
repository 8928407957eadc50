"""Broadcast frames written straight to each WebSocket (realtime/fanout_adapter.py): every
socket still sees one order for everything sent to it, and the sockets the direct write does
not serve (long-polling, an upgrade, permessage-deflate) get the same broadcasts queued."""

from __future__ import annotations

import asyncio
import re

import pytest

from publicrooms.settings import CleanupSettings, LimitSettings
from tests.support.clients import new_ip, wait_for
from tests.support.stalled import StalledReader

ROOM = "/public-room/deep-focus"
CHATTY = LimitSettings(chat_per_minute=100_000)


async def lobby_viewer(clients, server, transports: list[str] | None = None):  # noqa: ANN001, ANN201
    """A lobby viewer that has had its snapshot."""
    viewer = await clients(server.url, "/").connect(transports)
    await wait_for(lambda: viewer.events["system-occupancy-update"], "lobby snapshot")
    return viewer


async def copies(server) -> tuple[int, int]:  # noqa: ANN001
    """(direct, queued) broadcast copies, summed over the nodes."""
    async def read(app):  # noqa: ANN001, ANN202
        return app.sio.manager.direct_copies, app.sio.manager.queued_copies

    counts = [await node.query(read) for node in server.nodes]
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


@pytest.mark.single_node
async def test_each_socket_sees_one_order_while_its_transport_fills_and_drains(
        server_factory, clients) -> None:
    """A member with a tiny receive buffer that reads only once four others have chatted and
    it has sent without waiting for its acks (its transport fills, so frames went first
    directly, then through its queue): on the wire each of its messages comes back as
    new-message, then its ack, before the next one, and the room's messages arrive in the
    history's order."""
    server = server_factory(limits=CHATTY, message_max=15_000, history_length=1000,
                            send_queue_max_packets=10_000, send_queue_max_bytes=64 << 20,
                            cleanup=CleanupSettings(engineio_ping_interval_s=600,
                                                    engineio_ping_timeout_s=600))
    filler = "x" * 14_000
    wire = await StalledReader(server.url, new_ip()).open()
    try:
        await wire.join_room(ROOM, "Wire")
        talkers = [await clients(server.url, ROOM).connect() for _ in range(4)]
        for i, talker in enumerate(talkers):
            assert (await talker.call("join-room", {"userName": f"Talker {i}"}))["success"]
        own, each = 100, 40
        total = own + each * len(talkers)

        def contents() -> list[str]:
            return [re.search(r'"content":"(\w+) ', t)[1] for t in wire.texts
                    if t.startswith(f'42{ROOM},["new-message"')]


        async def talk(talker, name: str) -> None:  # noqa: ANN001
            for i in range(each):
                assert (await talker.call("send-message", {"content": f"{name}{i} {filler}"}))[
                    "success"]

        async def pipeline() -> None:
            for i in range(own):  # ack ids 2.. (1 was join-room)
                await wire.send_text(
                    f'42{ROOM},{i + 2}["send-message",{{"content":"w{i} {filler}"}}]')
                await asyncio.sleep(0)

        await asyncio.gather(pipeline(), *(talk(t, f"t{n}x") for n, t in enumerate(talkers)))
        # Only now does it read: what did not fit in the socket buffers waited in its queue.
        await wire.read_until(lambda: len(contents()) >= total, "every new-message", 60)
        await wire.read_until(
            lambda: sum(t.startswith(f"43{ROOM},") for t in wire.texts) >= own + 1, "acks", 30)
        own_order = []
        for text in wire.texts:
            if (ack := re.match(rf"43{re.escape(ROOM)},(\d+)\[", text)) and ack[1] != "1":
                own_order.append(f"ack {int(ack[1]) - 2}")
            elif (mine := re.match(rf'42{re.escape(ROOM)},\["new-message".*"content":"w(\d+) ',
                                   text)):
                own_order.append(f"message {mine[1]}")
        assert own_order == [f"{kind} {i}" for i in range(own) for kind in ("message", "ack")]
        late = await clients(server.url, ROOM).connect()
        history = (await late.call("join-room", {"userName": "Late"}))["recentMessages"]
        assert contents() == [m["content"].split()[0] for m in history]
    finally:
        wire.close()
    direct, queued = await copies(server)
    assert direct > 0 and queued > 0, (direct, queued)  # both paths were taken


@pytest.mark.single_node
async def test_polling_and_upgrading_clients_get_every_broadcast_in_order(server_factory,
                                                                          clients) -> None:
    server = server_factory(limits=CHATTY)
    talker = await clients(server.url, ROOM).connect()
    assert (await talker.call("join-room", {"userName": "Talker"}))["success"]
    polling = await clients(server.url, ROOM).connect(["polling"])
    upgrading = await clients(server.url, ROOM).connect(["polling", "websocket"])
    for client, name in ((polling, "Polling"), (upgrading, "Upgrading")):
        assert (await client.call("join-room", {"userName": name}))["success"]
    await wait_for(lambda: upgrading.sio.transport() == "websocket", "upgraded")
    before = await copies(server)
    count = 40
    for i in range(count):
        assert (await talker.call("send-message", {"content": f"m{i}"}))["success"]
    expected = [f"m{i}" for i in range(count)]
    for client in (polling, upgrading, talker):
        await wait_for(lambda c=client: len(c.events["new-message"]) >= count, "all delivered")
        assert [e["message"]["content"] for e in client.events["new-message"]] == expected
    direct, queued = await copies(server)
    # The polling client's copies were queued; the WebSocket ones (talker, upgraded) direct.
    assert queued - before[1] >= count and direct - before[0] >= 2 * count


@pytest.mark.single_node
async def test_a_compressed_websocket_gets_its_broadcasts_through_its_compressor(
        server_factory, clients) -> None:
    server = server_factory(limits=CHATTY, ws_compression=True)
    plain = await clients(server.url, ROOM).connect()
    deflate = await clients(server.url, ROOM).connect(websocket_extra_options={"compress": 15})
    assert deflate.sio.eio.ws.compress, "permessage-deflate was not negotiated"
    assert not plain.sio.eio.ws.compress
    for client, name in ((plain, "Plain"), (deflate, "Deflate")):
        assert (await client.call("join-room", {"userName": name}))["success"]
    before = await copies(server)
    count = 30
    for i in range(count):
        assert (await plain.call("send-message", {"content": f"m{i} " + "z" * 500}))["success"]
    for client in (plain, deflate):
        await wait_for(lambda c=client: len(c.events["new-message"]) >= count, "all delivered")
        assert [e["message"]["content"].split()[0] for e in client.events["new-message"]] == \
            [f"m{i}" for i in range(count)]
    direct, queued = await copies(server)
    assert direct - before[0] == count and queued - before[1] == count


@pytest.mark.single_node
async def test_what_one_turn_broadcasts_to_a_socket_leaves_in_one_write(server_factory,
                                                                          clients) -> None:
    """A join tells the lobby three things (room-occupancy-update, room-updated,
    system-occupancy-update) in one turn of the loop: a lobby viewer gets them in that order,
    from fewer transport writes than copies."""
    server = server_factory()
    lobby = await lobby_viewer(clients, server)

    async def writes(app):  # noqa: ANN001, ANN202
        cork = app.sio.manager._cork
        return cork.writes if cork else 0

    before_copies, before_writes = await copies(server), await server.query(writes)
    member = await clients(server.url, ROOM).connect()
    assert (await member.call("join-room", {"userName": "Member"}))["success"]
    await wait_for(lambda: lobby.events["system-occupancy-update"][-1]["seatsTaken"] == 1,
                   "the lobby heard the join")
    order = [name for name, _ in lobby.log if name != "rooms"][-3:]
    assert order == ["room-occupancy-update", "room-updated", "system-occupancy-update"]
    direct = (await copies(server))[0] - before_copies[0]
    assert direct >= 3 and await server.query(writes) - before_writes < direct


async def test_a_join_reaches_every_lobby_viewer_as_one_broadcast_of_three_events(
        server_factory, clients) -> None:
    """Lobby viewers on every node, over WebSocket and over long-polling, hear a join's room
    card and the system's totals in that order, and nothing named after the broadcast that
    carries them."""
    server = server_factory()
    viewers = [await lobby_viewer(clients, server, transports)
               for transports in (None, None, None, ["polling"], ["polling"], ["polling"])]
    member = await clients(server.url, ROOM).connect()
    assert (await member.call("join-room", {"userName": "Member"}))["success"]
    for viewer in viewers:
        await wait_for(lambda v=viewer: v.events["system-occupancy-update"][-1]["seatsTaken"]
                       == 1, "the lobby heard the join")
        names = [name for name, _ in viewer.log if name != "rooms"]
        assert names[-3:] == ["room-occupancy-update", "room-updated",
                              "system-occupancy-update"], names
        assert not [name for name in names if name.startswith("publicrooms:")]
        assert viewer.events["room-occupancy-update"][-1]["currentOccupancy"] == 1
        assert viewer.events["room-updated"][-1]["room"]["currentOccupancy"] == 1


@pytest.mark.single_node
async def test_a_broadcast_to_more_sockets_than_the_cork_holds_starts_leaving_at_once(
        server_factory, clients) -> None:
    """Past `hold_max` held transports, what is held is written during the broadcast itself
    (its first recipients start reading while the rest are written); everyone still gets it
    once, in one write each."""
    server = server_factory()
    viewers = [await lobby_viewer(clients, server) for _ in range(6)]

    async def broadcast(app):  # noqa: ANN001, ANN202
        manager = app.sio.manager
        cork = manager.cork()
        hold_max, writes = cork.hold_max, cork.writes
        cork.hold_max = 2
        try:
            await manager.emit("room-updated", {"room": {"id": "burst"}}, namespace="/")
            return len(cork._pending), cork.writes - writes  # before the loop's next turn
        finally:
            cork.hold_max = hold_max

    held, written = await server.query(broadcast)
    assert held <= 2 and held + written == 6, (held, written)
    for viewer in viewers:
        await wait_for(lambda v=viewer: [e for e in v.events["room-updated"]
                                         if e["room"]["id"] == "burst"], "the broadcast")
        assert len([e for e in viewer.events["room-updated"] if e["room"]["id"] == "burst"]) == 1


@pytest.mark.single_node
async def test_a_chat_ack_leaves_in_the_same_write_as_the_message_to_its_sender(
        server_factory, clients) -> None:
    """The sender of a message alone in its room gets new-message and then its ack, both
    written directly and in one transport write."""
    server = server_factory(limits=CHATTY)
    sender = await clients(server.url, ROOM).connect()
    assert (await sender.call("join-room", {"userName": "Alone"}))["success"]

    async def counts(app):  # noqa: ANN001, ANN202
        manager = app.sio.manager
        return manager.direct_copies, manager.direct_acks, manager.cork().writes

    for n in range(5):
        copies_before, acks_before, writes_before = await server.query(counts)
        ack = await sender.call("send-message", {"content": f"note {n}"})
        assert ack["success"]
        heard = [m for name, m in sender.log if name == "new-message"]
        assert heard and heard[-1]["message"]["id"] == ack["message"]["id"], \
            "new-message reached the sender before its ack"
        copies_after, acks_after, writes_after = await server.query(counts)
        assert (copies_after - copies_before, acks_after - acks_before) == (1, 1)
        assert writes_after - writes_before == 1
