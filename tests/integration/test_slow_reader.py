"""A client that stops reading its socket while its room chats: its send queue stays within
the bound, the others go on undelayed, and it is cut off with the usual leave broadcasts."""

from __future__ import annotations

from publicrooms.settings import CleanupSettings, LimitSettings
from tests.support.clients import new_ip, wait_for
from tests.support.stalled import StalledReader

ROOM = "/public-room/deep-focus"
MAX_PACKETS = 40
MAX_BYTES = 64 * 1024
MESSAGE_CHARS = 15_000
MESSAGES_MAX = 1000   # far more than fills the socket buffers (a few MB) and the bound


async def test_a_reader_that_stops_is_cut_off_and_the_room_goes_on(server_factory,
                                                                   clients, logs) -> None:
    server = server_factory(
        send_queue_max_packets=MAX_PACKETS, send_queue_max_bytes=MAX_BYTES,
        message_max=MESSAGE_CHARS, limits=LimitSettings(chat_per_minute=100_000),
        # The heartbeat stays out of the way: only the bound may cut the slow reader off.
        cleanup=CleanupSettings(reconnect_grace_s=0.5, shutdown_grace_s=1,
                                engineio_ping_interval_s=600, engineio_ping_timeout_s=600))
    # On three nodes the slow reader sits on the first, the talkers on the last: its queue
    # fills from the fan-out, so the bound must hold where the socket is.
    slow_node, chat_node = server.nodes[0], server.nodes[-1]
    slow = await StalledReader(slow_node.url, new_ip()).open()
    try:
        slow_id = (await slow.join_room(ROOM, "Slow"))["self"]["userId"]
        talker = await clients(chat_node.url, ROOM).connect()
        listener = await clients(chat_node.url, ROOM).connect()
        for client, name in ((talker, "Talker"), (listener, "Listener")):
            assert (await client.call("join-room", {"userName": name}))["success"]
        # From here on the slow one reads nothing at all.

        async def slow_queue(app):  # noqa: ANN001, ANN202
            conns = [c for c in app.registry.all() if c.user_id == slow_id]
            return app.sio.send_queue_of(conns[0].eio_sid) if conns else None

        text = "x" * (MESSAGE_CHARS - 10)
        sent, peak = 0, (0, 0)
        while True:
            # Each acknowledgement is the positive barrier that the talker was not held up.
            ack = await talker.call("send-message", {"content": f"{sent} {text}"}, timeout_s=5)
            assert ack["success"], ack
            sent += 1
            queued = await slow_node.query(slow_queue)
            if queued is None:
                break  # cut off
            assert queued[0] <= MAX_PACKETS and queued[1] <= MAX_BYTES, queued
            peak = max(peak, queued)
            assert sent < MESSAGES_MAX, f"the slow reader was never cut off (queue {queued})"
        assert peak[0] > 0, "the slow reader's queue never filled"
        assert [e for e in logs if e["event"] == "slow reader cut off"]
        print("SENT", sent, "PEAK", peak)
        # Everyone else got every acknowledged message, and heard the slow one leave.
        await wait_for(lambda: len(listener.events["new-message"]) >= sent,
                       f"all {sent} messages delivered to the listener")
        left = await wait_for(lambda: [e for e in listener.events["user-left"]
                                       if e["userId"] == slow_id], "user-left for the slow one")
        assert left[0]["currentOccupancy"] == 2
        assert await slow.dropped(), "its TCP connection ended"
        for node in server.nodes:
            assert not [c for c in node.app.registry.all() if c.user_id == slow_id]
        seats = await server.query(lambda app: app.state.seats.seat_of(slow_id))
        assert seats is None
    finally:
        slow.close()
