"""The rooms' shared focus timers: phases computed from the clock, changes told to the room.

The server is authoritative. A timer is stored as its current phase and when that phase ends;
`caught_up` works out where it stands at any moment (after a restart too), the periodic job
writes each phase end and tells the room, and clients count down from `endsAt` themselves,
corrected by the `serverTime` sent with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import structlog

from publicrooms.clock import Clock
from publicrooms.errors import InvalidRequest, TemporarilyUnavailable
from publicrooms.schemas.timer import TimerActor, TimerRead
from publicrooms.services.broadcast import Broadcaster
from publicrooms.services.views import iso
from publicrooms.state.timers import (
    BREAK,
    FOCUS,
    LONG_BREAK,
    PAUSED,
    RUNNING,
    STOPPED,
    TimerState,
    TimerStore,
)
from publicrooms.store.timers import TimerRecords

log = structlog.get_logger("publicrooms.timer")

ACTIONS = ("start", "pause", "skip")


@dataclass(frozen=True, slots=True)
class TimerConfig:
    focus_s: float
    break_s: float
    long_break_s: float
    long_break_after: int
    starts_on: bool = False

    def length_s(self, phase: str) -> float:
        return {FOCUS: self.focus_s, BREAK: self.break_s, LONG_BREAK: self.long_break_s}[phase]

    @property
    def cycle_s(self) -> float:
        """One whole cycle: every focus round, the short breaks between, the long break."""
        rounds = self.long_break_after
        return rounds * self.focus_s + (rounds - 1) * self.break_s + self.long_break_s


def next_phase(phase: str, round_: int, config: TimerConfig) -> tuple[str, int]:
    """The phase (and focus round) that follows."""
    if phase == FOCUS:
        return (LONG_BREAK, round_) if round_ >= config.long_break_after else (BREAK, round_)
    if phase == BREAK:
        return FOCUS, round_ + 1
    return FOCUS, 1


def caught_up(state: TimerState, config: TimerConfig, now: float) -> TimerState:
    """The timer as it stands at `now`: a running timer passes every phase that ended."""
    if state.status != RUNNING or state.ends_at is None or state.ends_at > now:
        return state
    ends_at, phase, round_ = state.ends_at, state.phase, state.round
    # A long gap (a server down for a day) skips whole cycles at once: a cycle ends where it began.
    cycles = int((now - ends_at) // config.cycle_s)
    ends_at += cycles * config.cycle_s
    while ends_at <= now:
        phase, round_ = next_phase(phase, round_, config)
        ends_at += config.length_s(phase)
    return replace(state, phase=phase, round=round_, ends_at=ends_at, action="phase-end",
                   by_user_id=None, by_name=None, version=state.version + 1)


def acted(state: TimerState, action: str, config: TimerConfig, now: float, *,
          user_id: str, name: str) -> TimerState | None:
    """The timer after someone's start, pause or skip; None when it changes nothing."""
    who = dict(action=action, by_user_id=user_id, by_name=name, version=state.version + 1)
    if action == "start":
        if state.status == RUNNING:
            return None
        left = state.remaining_s if state.status == PAUSED else config.length_s(state.phase)
        return replace(state, status=RUNNING, ends_at=now + (left or 0), remaining_s=None, **who)
    if action == "pause":
        if state.status != RUNNING or state.ends_at is None:
            return None
        return replace(state, status=PAUSED, remaining_s=max(0.0, state.ends_at - now),
                       ends_at=None, **who)
    if action == "skip":
        # Skipping moves on to the next phase and runs it: "let's take the break now".
        phase, round_ = next_phase(state.phase, state.round, config)
        return replace(state, phase=phase, round=round_, status=RUNNING,
                       ends_at=now + config.length_s(phase), remaining_s=None, **who)
    raise InvalidRequest(f"Unknown timer action {action[:20]!r}.")


def initial_state(config: TimerConfig, now: float) -> TimerState | None:
    """A room's timer before anyone touched it: running from now if the room starts it on."""
    if not config.starts_on:
        return None
    return TimerState(status=RUNNING, ends_at=now + config.focus_s, action="start", version=1)


class TimerService:
    """Each room's timer: read it, act on it, end its phases; the room and the lobby hear each change."""

    def __init__(self, *, store: TimerStore, records: TimerRecords, broadcaster: Broadcaster,
                 clock: Clock, configs: dict[str, TimerConfig],
                 on_change: Callable[[str], Awaitable[None]] | None = None) -> None:
        self._store = store
        self._records = records
        self._broadcaster = broadcaster
        self._clock = clock
        self._configs = configs
        # The lobby shows each room's phase: the room service re-announces the room.
        self.on_change = on_change

    def _config(self, room_id: str) -> TimerConfig:
        return self._configs[room_id]

    async def start_up(self) -> None:
        """Timers continue where they were: from the shared state, else the database, else new."""
        saved = await self._records.load_all()
        now = self._clock.time()
        for room_id, config in self._configs.items():
            if await self._store.get(room_id) is not None:
                continue  # shared state lives on (another node runs it, or Redis kept it)
            state = saved.get(room_id) or initial_state(config, now)
            if state is not None and await self._store.replace(room_id, None, state):
                await self._records.save(room_id, state, self._clock.now())

    async def timer(self, room_id: str) -> TimerState:
        """The room's timer as it stands now."""
        state = await self._store.get(room_id) or TimerState()
        return caught_up(state, self._config(room_id), self._clock.time())

    async def timers(self) -> dict[str, TimerState]:
        now, stored = self._clock.time(), await self._store.all()
        return {room_id: caught_up(stored.get(room_id) or TimerState(), config, now)
                for room_id, config in self._configs.items()}

    async def act(self, *, room_id: str, action: str, user_id: str, name: str) -> TimerState:
        """Someone in the room starts, pauses or skips; everyone there hears who did it."""
        if action not in ACTIONS:
            raise InvalidRequest(f"Unknown timer action {action[:20]!r}.")
        config = self._config(room_id)
        for _ in range(8):
            stored = await self._store.get(room_id)
            now = self._clock.time()
            current = caught_up(stored or TimerState(), config, now)
            changed = acted(current, action, config, now, user_id=user_id, name=name)
            if changed is None:
                return current  # already running, or nothing to pause: no news
            if await self._store.replace(room_id, None if stored is None else stored.version,
                                         changed):
                await self._changed(room_id, changed)
                return changed
        # Eight other changes won in between: the client may simply try again.
        raise TemporarilyUnavailable(retry_after_s=1)

    async def end_phases(self) -> int:
        """End every phase that is due, in every room (the periodic job); returns how many rooms."""
        now, ended = self._clock.time(), 0
        for room_id, stored in (await self._store.all()).items():
            config = self._configs.get(room_id)
            if config is None:
                continue
            current = caught_up(stored, config, now)
            if current.version != stored.version and await self._store.replace(
                    room_id, stored.version, current):
                await self._changed(room_id, current)
                ended += 1
        return ended

    async def _changed(self, room_id: str, state: TimerState) -> None:
        try:
            await self._records.save(room_id, state, self._clock.now())
        except Exception:
            # The live timer is right; the durable copy follows at the next change.
            log.exception("timer record not saved", room_id=room_id)
        await self._broadcaster.to_room(room_id, "timer-changed",
                                        {"roomId": room_id, "timer": self.view(room_id, state).wire()})
        if self.on_change is not None:
            await self.on_change(room_id)

    def view(self, room_id: str, state: TimerState) -> TimerRead:
        """The wire shape, with the server's time so a client with a wrong clock counts right."""
        config, now = self._config(room_id), self._clock.time()
        if state.status == RUNNING and state.ends_at is not None:
            remaining = max(0.0, state.ends_at - now)
        elif state.status == PAUSED:
            remaining = state.remaining_s or 0.0
        else:
            remaining = config.length_s(state.phase)
        by = (TimerActor(user_id=state.by_user_id, display_name=state.by_name or "")
              if state.by_user_id else None)
        return TimerRead(
            phase=state.phase, status=state.status, round=state.round,
            rounds=config.long_break_after,
            ends_at=_iso(state.ends_at) if state.status == RUNNING else None,
            remaining_ms=round(remaining * 1000), phase_ms=round(config.length_s(state.phase) * 1000),
            action=state.action, by=by, server_time=_iso(now))


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else iso(datetime.fromtimestamp(seconds, timezone.utc))


def timer_configs(rooms: list) -> dict[str, TimerConfig]:  # noqa: ANN001 - settings.RoomConfig
    """Each configured room's timer lengths, in seconds."""
    return {room.id: TimerConfig(focus_s=room.timer.focus_min * 60,
                                 break_s=room.timer.break_min * 60,
                                 long_break_s=room.timer.long_break_min * 60,
                                 long_break_after=room.timer.long_break_after,
                                 starts_on=room.timer.starts_on) for room in rooms}


__all__ = ["ACTIONS", "STOPPED", "TimerConfig", "TimerService", "acted", "caught_up",
           "initial_state", "next_phase", "timer_configs"]
