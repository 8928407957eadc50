"""One seat, one live view: a second tab of the same person asks, then moves the seat there."""

from __future__ import annotations

from tests.support.clients import new_ip, wait_for

ROOM = "/public-room/deep-focus"


async def test_second_tab_is_asked_then_takes_the_seat_and_the_first_is_told(
        server, clients) -> None:  # noqa: ANN001
    grace = await clients(server.url, ROOM).connect()
    assert (await grace.call("join-room", {"userName": "Grace"}))["success"]
    ip = new_ip()
    first = await clients(server.url, ROOM, ip).connect()
    ack = await first.call("join-room", {"userName": "Ada"})
    ada = ack["self"]["userId"]
    await wait_for(lambda: grace.events["user-joined"], "Grace sees Ada arrive")

    # A second tab (on the next node, in three-node mode) that asks first is told, and joins nothing.
    second = await clients(server.url, ROOM, ip).connect()
    asked = await second.call("join-room", {"userId": ada, "takeOver": False})
    assert asked["error"]["code"] == "SEATED_ELSEWHERE"
    assert asked["error"]["details"] == {"roomId": "deep-focus"}
    refused = await second.call("send-message", {"content": "from the second tab"})
    assert refused["error"]["code"] == "NOT_IN_ROOM"
    assert not first.events["seat-moved"]

    # "Use it here": the seat moves without leaving the room; the first tab is told and closed.
    moved = await second.call("join-room", {"userId": ada, "takeOver": True})
    assert moved["success"] and moved["room"]["currentOccupancy"] == 2
    await wait_for(lambda: first.events["seat-moved"], "the first tab hears the seat moved")
    assert first.events["seat-moved"][0] == {"roomId": "deep-focus"}
    await wait_for(lambda: not first.connected, "the first tab's room socket is closed")

    sent = await second.call("send-message", {"content": "here now"})
    assert sent["success"]
    # Barrier: Grace has the message sent after the move, so any user-left would be in first.
    await wait_for(lambda: any(e["message"]["content"] == "here now"
                               for e in grace.events["new-message"]), "Grace gets the message")
    assert grace.events["user-left"] == []
    assert len(grace.events["user-joined"]) == 1
    seat = await server.acall(lambda: server.app.ctx.rooms.participants("deep-focus"))
    assert sorted(p.display_name for p in seat) == ["Ada", "Grace"]


async def test_takeover_is_the_default_for_clients_that_do_not_ask(server, clients) -> None:  # noqa: ANN001
    ip = new_ip()
    first = await clients(server.url, ROOM, ip).connect()
    ada = (await first.call("join-room", {"userName": "Ada"}))["self"]["userId"]
    second = await clients(server.url, ROOM, ip).connect()
    assert (await second.call("join-room", {"userId": ada}))["success"]
    await wait_for(lambda: first.events["seat-moved"], "the older socket hears the seat moved")
    assert (await second.call("toggle-audio", {"enabled": True}))["success"]


async def test_lobby_hears_when_the_system_is_full_and_how_many_wait(server_factory, clients) -> None:  # noqa: ANN001
    from publicrooms.settings import RoomConfig

    server = server_factory(rooms=[RoomConfig(id="a", name="A", capacity=3)], system_capacity=1)
    lobby = await clients(server.url, "/").connect()
    first = await wait_for(lambda: lobby.events["system-occupancy-update"], "snapshot on connect")
    assert first[0] == {"seatsTaken": 0, "systemCapacity": 1, "waiting": 0, "isFull": False}

    def last() -> dict:
        return lobby.events["system-occupancy-update"][-1]

    ana = await clients(server.url, "/public-room/a").connect()
    assert (await ana.call("join-room", {"userName": "Ana"}))["success"]
    await wait_for(lambda: last()["seatsTaken"] == 1, "the seat is counted")
    assert last() == {"seatsTaken": 1, "systemCapacity": 1, "waiting": 0, "isFull": True}
    bo = await clients(server.url, "/public-room/a").connect()
    queued = await bo.call("join-room", {"userName": "Bo"})
    assert queued["error"]["code"] == "SYSTEM_AT_CAPACITY"
    await wait_for(lambda: last()["waiting"] == 1, "the waiter is counted")
    assert last()["isFull"] is True
    await bo.call("leave-queue")
    await wait_for(lambda: last()["waiting"] == 0, "the queue is empty again")
    await ana.call("leave-room", {})
    await wait_for(lambda: last() == {"seatsTaken": 0, "systemCapacity": 1, "waiting": 0,
                                      "isFull": False}, "free again")
