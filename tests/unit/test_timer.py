"""The rooms' shared focus timer: phases on the fake clock, actions, catching up, compare-and-set."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from publicrooms.clock import FakeClock
from publicrooms.services.timer import TimerConfig, TimerService, caught_up, next_phase
from publicrooms.state.timers import MemoryTimerStore, TimerState
from tests.conftest import REDIS_URL
from tests.support.fakes import RecordingBroadcaster

CONFIG = TimerConfig(focus_s=25 * 60, break_s=5 * 60, long_break_s=15 * 60, long_break_after=4)
ROOM = "pomodoro"


class MemoryTimerRecords:
    """The durable copy, at the seam (the SQL one is exercised by the live-server tests)."""

    def __init__(self, saved: dict[str, TimerState] | None = None) -> None:
        self.saved = dict(saved or {})

    async def load_all(self) -> dict[str, TimerState]:
        return dict(self.saved)

    async def save(self, room_id: str, state: TimerState, now: datetime) -> None:
        if room_id not in self.saved or self.saved[room_id].version < state.version:
            self.saved[room_id] = state


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request) -> AsyncIterator[object]:  # noqa: ANN001
    if request.param == "memory":
        yield MemoryTimerStore()
        return
    import redis.asyncio as aioredis

    from publicrooms.state.redis.timers import RedisTimerStore
    from tests.support.cluster import delete_prefix

    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    yield RedisTimerStore(client, prefix)
    await client.aclose()
    await delete_prefix(REDIS_URL, prefix)


def service(store, clock: FakeClock, config: TimerConfig = CONFIG,  # noqa: ANN001
            records: MemoryTimerRecords | None = None) -> tuple[TimerService, RecordingBroadcaster]:
    broadcaster = RecordingBroadcaster()
    return TimerService(store=store, records=records or MemoryTimerRecords(),
                        broadcaster=broadcaster, clock=clock, configs={ROOM: config}), broadcaster


def told(broadcaster: RecordingBroadcaster) -> list[tuple[str, str, int]]:
    return [(e["timer"]["phase"], e["timer"]["status"], e["timer"]["round"])
            for _, name, e in broadcaster.room_events if name == "timer-changed"]


def test_the_phases_follow_each_other_with_a_long_break_after_four_rounds() -> None:
    phases, state = [], ("focus", 1)
    for _ in range(9):
        state = next_phase(*state, CONFIG)
        phases.append(state)
    assert phases == [("break", 1), ("focus", 2), ("break", 2), ("focus", 3), ("break", 3),
                      ("focus", 4), ("long-break", 4), ("focus", 1), ("break", 1)]


async def test_a_started_timer_ends_each_phase_on_the_clock_and_tells_the_room(store) -> None:  # noqa: ANN001
    clock = FakeClock()
    timers, broadcaster = service(store, clock)
    started = await timers.act(room_id=ROOM, action="start", user_id="u1", name="Ada")
    assert (started.phase, started.status, started.ends_at) == ("focus", "running",
                                                               clock.time() + 1500)
    view = timers.view(ROOM, started).wire()
    assert view["by"] == {"userId": "u1", "displayName": "Ada"} and view["action"] == "start"
    assert view["remainingMs"] == 1_500_000 and view["phaseMs"] == 1_500_000
    assert view["serverTime"] < view["endsAt"]

    clock.advance(1499)
    assert await timers.end_phases() == 0  # not due yet: nothing is said
    clock.advance(1)
    assert await timers.end_phases() == 1
    assert await timers.end_phases() == 0  # each phase end is told once
    clock.advance(300)
    await timers.end_phases()
    assert told(broadcaster) == [("focus", "running", 1), ("break", "running", 1),
                                 ("focus", "running", 2)]
    last = broadcaster.room_events[-1][2]["timer"]
    assert last["action"] == "phase-end" and last["by"] is None
    assert last["remainingMs"] == 1_500_000  # the new phase counts from the old one's end


async def test_pause_keeps_the_time_left_and_start_resumes_it(store) -> None:  # noqa: ANN001
    clock = FakeClock()
    timers, broadcaster = service(store, clock)
    await timers.act(room_id=ROOM, action="start", user_id="u1", name="Ada")
    clock.advance(600)
    paused = await timers.act(room_id=ROOM, action="pause", user_id="u2", name="Bo")
    assert paused.status == "paused" and paused.remaining_s == 900
    clock.advance(5000)  # paused time does not count
    assert await timers.end_phases() == 0
    assert (await timers.timer(ROOM)).remaining_s == 900
    again = await timers.act(room_id=ROOM, action="pause", user_id="u2", name="Bo")
    assert again.version == paused.version  # pausing a paused timer changes nothing
    resumed = await timers.act(room_id=ROOM, action="start", user_id="u1", name="Ada")
    assert resumed.ends_at == clock.time() + 900 and resumed.status == "running"
    assert [who for _, _, e in broadcaster.room_events
            for who in [e["timer"]["by"]["displayName"]]] == ["Ada", "Bo", "Ada"]


async def test_skip_moves_on_and_runs_the_next_phase(store) -> None:  # noqa: ANN001
    clock = FakeClock()
    timers, _ = service(store, clock)
    skipped = await timers.act(room_id=ROOM, action="skip", user_id="u1", name="Ada")
    assert (skipped.phase, skipped.status, skipped.ends_at) == ("break", "running",
                                                               clock.time() + 300)
    for _ in range(6):  # focus 2, break 2, focus 3, break 3, focus 4, then the long break
        skipped = await timers.act(room_id=ROOM, action="skip", user_id="u1", name="Ada")
    assert (skipped.phase, skipped.round) == ("long-break", 4)
    assert skipped.ends_at == clock.time() + 900


async def test_a_long_gap_is_caught_up_as_if_every_phase_had_been_ended() -> None:
    clock = FakeClock()
    state = TimerState(status="running", ends_at=clock.time() + 1500, version=1)
    stepped = state
    moment = clock.time()
    for _ in range(5000):  # step phase by phase, a minute at a time, for about three days
        moment += 60
        stepped = caught_up(stepped, CONFIG, moment)
    jumped = caught_up(state, CONFIG, moment)
    assert (jumped.phase, jumped.round, jumped.ends_at) == (stepped.phase, stepped.round,
                                                            stepped.ends_at)
    assert jumped.ends_at > moment


async def test_a_change_computed_from_an_old_version_is_refused(store) -> None:  # noqa: ANN001
    first = TimerState(status="running", ends_at=10.0, version=1)
    assert await store.replace(ROOM, None, first)
    assert not await store.replace(ROOM, None, first)  # "only if absent" once it exists
    assert await store.replace(ROOM, 1, TimerState(status="paused", remaining_s=5, version=2))
    assert not await store.replace(ROOM, 1, TimerState(status="stopped", version=2))
    assert (await store.get(ROOM)).status == "paused"
    assert (await store.all()) == {ROOM: await store.get(ROOM)}


async def test_start_up_restores_the_saved_timer_or_starts_the_rooms_that_start_on(store) -> None:  # noqa: ANN001
    clock = FakeClock()
    saved = TimerState(status="paused", remaining_s=42, version=7)
    records = MemoryTimerRecords({ROOM: saved})
    timers, _ = service(store, clock, records=records)
    await timers.start_up()
    assert await timers.timer(ROOM) == saved

    on = TimerConfig(focus_s=60, break_s=30, long_break_s=90, long_break_after=2, starts_on=True)
    fresh = TimerService(store=MemoryTimerStore(), records=MemoryTimerRecords(),
                         broadcaster=RecordingBroadcaster(), clock=clock, configs={"r": on})
    await fresh.start_up()
    state = await fresh.timer("r")
    assert (state.status, state.phase, state.ends_at) == ("running", "focus", clock.time() + 60)
