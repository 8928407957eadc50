"""LobbyFeed: the first change goes out at once, a burst after it as one send of the state then."""

from __future__ import annotations

import asyncio

from publicrooms.services.lobby_feed import Change, LobbyFeed
from tests.support.clients import wait_for


class Viewer:
    """Records what a send would put on the wire: the state when the send runs."""

    def __init__(self) -> None:
        self.state = 0
        self.seen: list[tuple[int, frozenset[str]]] = []
        self.arrived = asyncio.Event()

    async def build(self, flags: frozenset[str]) -> list:
        return [("update", {"state": self.state, "flags": flags})]

    async def emit(self, events: list) -> None:
        self.seen.extend((data["state"], data["flags"]) for _, data in events)
        self.arrived.set()


async def test_a_quiet_key_is_sent_at_once_and_a_burst_after_it_once_with_the_state_then() -> None:
    feed, viewer = LobbyFeed(0.05), Viewer()
    viewer.state = 1
    await feed.changed(viewer.emit, Change("room:a", viewer.build, "occupancy"))
    assert viewer.seen == [(1, frozenset({"occupancy"}))], "the first change is not held back"

    viewer.arrived.clear()
    for state, flag in [(2, "occupancy"), (3, ""), (4, "occupancy")]:
        viewer.state = state
        await feed.changed(viewer.emit, Change("room:a", viewer.build, flag))
    assert len(viewer.seen) == 1, "changes inside the window wait for its end"
    await asyncio.wait_for(viewer.arrived.wait(), 5)
    assert viewer.seen[1] == (4, frozenset({"occupancy", ""})), \
        "one send, reading the current state, for everything merged"

    await wait_for(lambda: feed.pending() == 0, "a window with nothing new closes")
    viewer.state = 5
    await feed.changed(viewer.emit, Change("room:a", viewer.build))
    assert viewer.seen[2] == (5, frozenset({""})), "after a quiet window: at once again"
    assert [state for state, _ in viewer.seen] == sorted(state for state, _ in viewer.seen)
    await feed.close()


async def test_keys_are_paced_apart() -> None:
    feed, a, b = LobbyFeed(10), Viewer(), Viewer()
    await feed.changed(a.emit, Change("room:a", a.build))
    await feed.changed(b.emit, Change("room:b", b.build))
    await feed.changed(a.emit, Change("room:a", a.build))
    assert (len(a.seen), len(b.seen)) == (1, 1), "another room's window does not hold b back"
    await feed.close()
    assert feed.pending() == 0


async def test_a_window_of_zero_sends_every_change() -> None:
    feed, viewer = LobbyFeed(0), Viewer()
    for state in range(1, 6):
        viewer.state = state
        await feed.changed(viewer.emit, Change("system", viewer.build))
    assert [state for state, _ in viewer.seen] == [1, 2, 3, 4, 5]
    assert feed.pending() == 0


async def test_a_failed_merged_send_does_not_stop_the_key() -> None:
    feed, viewer = LobbyFeed(0.02), Viewer()
    failures = []

    async def failing(flags: frozenset[str]) -> list:
        failures.append(flags)
        raise ConnectionError("lobby fan-out down")

    await feed.changed(viewer.emit, Change("system", viewer.build))
    await feed.changed(viewer.emit, Change("system", failing))
    await wait_for(lambda: failures and feed.pending() == 0, "the failed send ran, window closed")
    await feed.changed(viewer.emit, Change("system", viewer.build))
    assert len(viewer.seen) == 2
    await feed.close()


async def test_changes_due_together_go_out_as_one_emit_in_the_order_given() -> None:
    feed, room, system = LobbyFeed(0.05), Viewer(), Viewer()
    emits: list[list] = []
    merged = asyncio.Event()

    async def emit(events: list) -> None:
        emits.append([name for name, _ in events])
        if len(emits) == 3:
            merged.set()

    async def room_events(flags: frozenset[str]) -> list:
        return [("room-occupancy-update", {}), ("room-updated", {})]

    async def system_events(flags: frozenset[str]) -> list:
        return [("system-occupancy-update", {})]

    await feed.changed(emit, Change("room:a", room_events, "occupancy"),
                       Change("system", system_events))
    assert emits == [["room-occupancy-update", "room-updated", "system-occupancy-update"]]
    # Another room while the system's window is open: that room at once, the system merged.
    await feed.changed(emit, Change("room:b", room_events, "occupancy"),
                       Change("system", system_events))
    assert emits[1] == ["room-occupancy-update", "room-updated"]
    await feed.changed(emit, Change("room:a", room_events, "occupancy"))
    await asyncio.wait_for(merged.wait(), 5)
    assert emits[2] == ["room-occupancy-update", "room-updated", "system-occupancy-update"], \
        "the keys opened together close together, in one emit"
    await wait_for(lambda: feed.pending() == 0, "every window closes")
    assert len(emits) == 3
    await feed.close()
