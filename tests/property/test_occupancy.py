"""Occupancy under any interleaving of joins and leaves: never above capacity, +1/-1, full flag."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publicrooms.clock import FakeClock
from publicrooms.errors import AlreadyInRoom, RoomFull, SystemAtCapacity
from publicrooms.services.rooms import RoomService
from publicrooms.state.holds import MemoryHoldStore
from publicrooms.state.locks import MemoryLockStore
from publicrooms.state.seats import MemorySeatStore
from publicrooms.state.sessions import MemorySessionStore
from publicrooms.store.sql import RoomRecord
from tests.support.fakes import FakeSqlStore, RecordingBroadcaster

ROOMS = [RoomRecord("a", "A", 3, 0), RoomRecord("b", "B", 2, 1), RoomRecord("c", "C", 4, 2)]
ops = st.lists(
    st.tuples(st.sampled_from(["join", "leave"]), st.integers(0, 7), st.sampled_from("abc")),
    min_size=1, max_size=60,
)


async def _run(batches: list[list[tuple[str, int, str]]], system_capacity: int) -> None:
    sql, broadcaster = FakeSqlStore(), RecordingBroadcaster()
    clock = FakeClock()
    service = RoomService(sql=sql, seats=MemorySeatStore(), holds=MemoryHoldStore(clock),
                          locks=MemoryLockStore(), sessions=MemorySessionStore(),
                          broadcaster=broadcaster, clock=clock,
                          rooms=ROOMS, system_capacity=system_capacity, history_length=50,
                          message_max=1000)
    users = [await sql.upsert_user(ip_key=f"k{i}", display_name=f"U{i}", now=clock.now())
             for i in range(8)]

    async def apply(op: str, who: int, room: str) -> None:
        if op == "join":
            try:
                await service.join_room(room_id=room, user=users[who], by_socket=True)
            except (RoomFull, AlreadyInRoom, SystemAtCapacity):
                pass
        else:
            await service.leave_room(user_id=users[who].id, room_id=room)

    for batch in batches:
        await asyncio.gather(*(apply(*op) for op in batch))
        rooms = {r.id: r for r in await service.list_rooms()}
        total = 0
        for record in ROOMS:
            seated = [u for u, (room, _) in sql.participants.items() if room == record.id]
            view = rooms[record.id]
            assert view.current_occupancy == len(seated) <= record.capacity
            assert view.is_full == (view.current_occupancy == record.capacity)
            total += view.current_occupancy
        assert total <= system_capacity

    # Replaying the broadcasts per room: each join is +1 and each leave -1 from the last value.
    level = {r.id: 0 for r in ROOMS}
    for event, data in broadcaster.lobby_events:
        if event == "system-occupancy-update":  # the whole system's seats and queue
            assert 0 <= data["seatsTaken"] <= data["systemCapacity"] == system_capacity
            assert data["isFull"] == (data["seatsTaken"] >= system_capacity
                                      or data["waiting"] > 0)
            continue
        if event == "room-updated":  # the whole card, read after the change: a snapshot
            room = data["room"]
            assert 0 <= room["currentOccupancy"] <= room["capacity"]
            assert room["isFull"] == (room["currentOccupancy"] >= room["capacity"])
            continue
        assert event == "room-occupancy-update"
        assert abs(data["currentOccupancy"] - level[data["roomId"]]) == 1
        assert data["currentOccupancy"] <= data["capacity"]
        assert data["isFull"] == (data["currentOccupancy"] >= data["capacity"])
        level[data["roomId"]] = data["currentOccupancy"]
    for room_id, event, data in broadcaster.room_events:
        if event in ("user-joined", "user-left"):
            assert 0 <= data["currentOccupancy"] <= next(r.capacity for r in ROOMS
                                                         if r.id == room_id)
    final = {r.id: r.current_occupancy for r in await service.list_rooms()}
    assert final == level


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, batch_size=st.integers(1, 8), system_capacity=st.integers(1, 9))
def test_occupancy_invariants_hold_under_interleaving(ops, batch_size, system_capacity) -> None:
    batches = [ops[i:i + batch_size] for i in range(0, len(ops), batch_size)]
    asyncio.run(_run(batches, system_capacity))
