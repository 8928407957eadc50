"""System capacity queue (SPEC §2): FIFO, positions pushed, automatic admission, never over."""

from __future__ import annotations

import asyncio

from publicrooms.settings import LimitSettings, RoomConfig
from tests.support.clients import wait_for

ROOMS = [RoomConfig(id="a", name="A", capacity=3), RoomConfig(id="b", name="B", capacity=3)]
NS_A, NS_B = "/public-room/a", "/public-room/b"


async def seat_count(server) -> int:  # noqa: ANN001
    return await server.query(lambda app: app.state.seats.total())


async def queue_length(server) -> int:  # noqa: ANN001
    return await server.query(lambda app: app.state.seats.queue_length())


async def queue_length_is(server, n: int) -> bool:  # noqa: ANN001
    return await queue_length(server) == n


async def not_queued(server, user_id: str) -> bool:  # noqa: ANN001
    return await server.query(lambda app: app.state.seats.position(user_id)) is None


async def queue_order(server) -> list[str]:  # noqa: ANN001
    return [entry.user_id for entry in await server.query(lambda app: app.state.seats.queue())]


async def test_queue_positions_and_automatic_admission(server_factory, clients, http) -> None:
    server = server_factory(rooms=ROOMS, system_capacity=2)
    ana = await clients(server.url, NS_A).connect()
    bo = await clients(server.url, NS_B).connect()
    assert (await ana.call("join-room", {"userName": "Ana"}))["success"]
    assert (await bo.call("join-room", {"userName": "Bo"}))["success"]

    cy = await clients(server.url, NS_A).connect()
    waiting = await cy.call("join-room", {"userName": "Cy"})
    assert waiting["error"]["code"] == "SYSTEM_AT_CAPACITY"
    assert waiting["error"]["details"] == {"position": 1, "roomId": "a"}
    dee = await clients(server.url, NS_B).connect()
    assert (await dee.call("join-room", {"userName": "Dee"}))["error"]["details"]["position"] == 2
    # A REST joiner queues too, behind the sockets, with a 503.
    rest = http(server.url)
    user = (await rest.post("/api/public/users", json={"displayName": "Eve"})).json()
    queued = await rest.post("/api/public/rooms/a/join", json={"userId": user["userId"]})
    assert queued.status_code == 503
    assert queued.json()["error"]["code"] == "SYSTEM_AT_CAPACITY"
    assert queued.json()["error"]["details"]["position"] == 3
    assert "Retry-After" in queued.headers

    await bo.call("leave-room", {})
    admitted = await wait_for(lambda: cy.events["queue-admitted"], "head admitted")
    assert admitted[0] == {"roomId": "a"}
    await wait_for(lambda: any(e["userName"] == "Cy" for e in ana.events["user-joined"]),
                   "room told about the admitted user")
    await wait_for(lambda: {"position": 1, "roomId": "b"} in dee.events["queue-position-changed"],
                   "new position pushed")
    entered = await cy.call("join-room", {"userName": "Cy"})
    assert entered["success"] and {p["displayName"] for p in entered["participants"]} == {
        "Ana", "Cy"}
    assert await seat_count(server) == 2

    # Leaving the queue (cancel, or disconnect) removes the entry and moves the rest up.
    assert (await dee.call("leave-queue"))["success"]
    again = await rest.post("/api/public/rooms/a/join", json={"userId": user["userId"]})
    assert again.json()["error"]["details"]["position"] == 1
    await ana.close()
    await wait_for(lambda: not_queued(server, user["userId"]),
                   "REST waiter admitted when Ana leaves")
    done = await rest.post("/api/public/rooms/a/join", json={"userId": user["userId"]})
    assert done.status_code == 200 and done.json()["room"]["currentOccupancy"] == 2


async def test_disconnecting_waiter_leaves_the_queue(server_factory, clients) -> None:
    server = server_factory(rooms=ROOMS, system_capacity=1)
    ana = await clients(server.url, NS_A).connect()
    await ana.call("join-room", {"userName": "Ana"})
    bo = await clients(server.url, NS_A).connect()
    cy = await clients(server.url, NS_A).connect()
    assert (await bo.call("join-room", {"userName": "Bo"}))["error"]["details"]["position"] == 1
    assert (await cy.call("join-room", {"userName": "Cy"}))["error"]["details"]["position"] == 2
    await bo.close()
    await wait_for(lambda: any(e["position"] == 1 for e in cy.events["queue-position-changed"]),
                   "Cy moves up")
    assert await queue_length(server) == 1


async def test_concurrent_joins_never_overcommit_and_keep_order(server_factory, clients) -> None:
    server = server_factory(rooms=[RoomConfig(id="a", name="A", capacity=50)], system_capacity=5,
                            limits=LimitSettings(join_per_minute=100))
    people = [await clients(server.url, NS_A).connect() for _ in range(12)]
    acks = await asyncio.gather(*(p.call("join-room", {"userName": f"P{i}"})
                                  for i, p in enumerate(people)))
    seated = [a for a in acks if a.get("success")]
    queued = [a["error"]["details"]["position"] for a in acks if "error" in a]
    assert len(seated) == 5 and sorted(queued) == list(range(1, 8))
    assert await seat_count(server) == 5
    order = await queue_order(server)
    # Everyone seated leaves at once: exactly the first five waiters get the seats.
    leavers = [p for p, a in zip(people, acks) if a.get("success")]
    await asyncio.gather(*(p.call("leave-room", {}) for p in leavers))
    await wait_for(lambda: queue_length_is(server, 2), "five admitted")
    assert await seat_count(server) == 5
    remaining = await queue_order(server)
    assert remaining == order[5:]
