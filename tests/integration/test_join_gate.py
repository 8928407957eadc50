"""A burst of joins is served in turn: at most PUBLICROOMS_JOIN_CONCURRENCY at once, the
others waiting (and counted on /metrics) until a slot frees, over Socket.IO and REST alike."""

from __future__ import annotations

import asyncio
import re

import httpx

from publicrooms.settings import LimitSettings
from tests.conftest import make_settings
from tests.support.clients import http_client, new_ip, wait_for
from tests.support.faults import users_table_locked
from tests.support.live import LiveServer

ROOM = "/public-room/deep-focus"


async def _gauges(server: LiveServer) -> dict[str, float]:
    async with httpx.AsyncClient() as probe:
        text = (await probe.get(server.url + "/metrics", timeout=5)).text
    return {name: float(value) for name, value in
            re.findall(r"^publicrooms_joins_(in_progress|waiting) (\S+)$", text, re.M)}


async def test_joins_past_the_limit_wait_their_turn_and_are_then_served(tmp_path, clients) -> None:
    server = LiveServer(make_settings(tmp_path, join_concurrency=1)).start()
    try:
        ana = await clients(server.url, ROOM).connect()
        bo = await clients(server.url, ROOM).connect()
        async with http_client(server.url, new_ip()) as rest:
            created = await rest.post("/api/public/users", json={"displayName": "Cy"})
            assert created.status_code in (200, 201), created.text
            cy_id = created.json()["userId"]
            async with users_table_locked(server):
                # Ana's join creates her user, which waits for the lock: it holds the one slot.
                first = asyncio.ensure_future(ana.call("join-room", {"userName": "Ana"}))
                await wait_for(lambda: server.app.ctx.joins.inside == 1, "Ana's join served")
                second = asyncio.ensure_future(bo.call("join-room", {"userName": "Bo"}))
                await wait_for(lambda: _waiting(server, 1), "Bo's join waits its turn")
                third = asyncio.ensure_future(rest.post("/api/public/rooms/deep-focus/join",
                                                        json={"userId": cy_id}))
                assert await wait_for(lambda: _waiting(server, 2), "Cy's join waits behind Bo's")
                assert await _gauges(server) == {"in_progress": 1.0, "waiting": 2.0}
                assert not (first.done() or second.done() or third.done())
            answers = await asyncio.gather(first, second, third)
        assert answers[0]["success"] and answers[1]["success"]
        assert answers[2].status_code == 200 and answers[2].json()["success"]
        # Served in the order they came: each answer lists those seated before it.
        assert [[p["displayName"] for p in answer["participants"]] for answer in
                (answers[0], answers[1], answers[2].json())] == \
            [["Ana"], ["Ana", "Bo"], ["Ana", "Bo", "Cy"]]
        assert await _gauges(server) == {"in_progress": 0.0, "waiting": 0.0}
    finally:
        await asyncio.to_thread(server.stop)


def _waiting(server: LiveServer, count: int) -> bool:
    return server.app.ctx.joins.waiting == count


async def test_a_socket_that_left_while_its_join_waited_leaves_no_seat(tmp_path, clients) -> None:
    server = LiveServer(make_settings(tmp_path, join_concurrency=1)).start()
    try:
        ana = await clients(server.url, ROOM).connect()
        bo = await clients(server.url, ROOM).connect()
        async with users_table_locked(server):
            first = asyncio.ensure_future(ana.call("join-room", {"userName": "Ana"}))
            await wait_for(lambda: server.app.ctx.joins.inside == 1, "Ana's join served")
            await bo.emit("join-room", {"userName": "Bo"})
            await wait_for(lambda: _waiting(server, 1), "Bo's join waits its turn")
            await bo.close()  # it leaves while its join waits
        ack = await first
        assert ack["success"] and [p["displayName"] for p in ack["participants"]] == ["Ana"]

        async def settled() -> bool:
            seats = await server.acall(lambda: server.app.ctx.state.seats.total())
            joins = server.app.ctx.joins
            return seats == 1 and len(server.app.registry) == 1 and \
                joins.waiting == joins.inside == 0

        # Bo's turn came and went: his socket is gone, and no seat is left behind for it.
        await wait_for(settled, "only Ana seated, the gate idle")
    finally:
        await asyncio.to_thread(server.stop)


async def test_a_join_over_its_limit_is_refused_at_once_not_after_its_turn(tmp_path,
                                                                           clients) -> None:
    server = LiveServer(make_settings(tmp_path, join_concurrency=1,
                                      limits=LimitSettings(join_per_minute=1))).start()
    try:
        ana = await clients(server.url, ROOM).connect()
        eve_ip = new_ip()
        eve = await clients(server.url, ROOM, eve_ip).connect()
        eve_again = await clients(server.url, ROOM, eve_ip).connect()
        async with users_table_locked(server):
            first = asyncio.ensure_future(ana.call("join-room", {"userName": "Ana"}))
            await wait_for(lambda: server.app.ctx.joins.inside == 1, "Ana's join served")
            waiting = asyncio.ensure_future(eve.call("join-room", {"userName": "Eve"}))
            await wait_for(lambda: _waiting(server, 1), "Eve's first join waits its turn")
            # Her second is over the limit: refused while the slot is still held.
            refused = await eve_again.call("join-room", {"userName": "Eve"})
            assert refused["error"]["code"] == "JOIN_LIMIT_EXCEEDED"
            assert (server.app.ctx.joins.inside, server.app.ctx.joins.waiting) == (1, 1)
        assert (await first)["success"] and (await waiting)["success"]
    finally:
        await asyncio.to_thread(server.stop)
