"""Room timers: each room's shared focus timer (phase, end, round, who acted last).

The port is a compare-and-set on a version number: a change is written only over the state it
was computed from, so a start on one node and a phase end on another never both win.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Protocol

FOCUS, BREAK, LONG_BREAK = "focus", "break", "long-break"
STOPPED, RUNNING, PAUSED = "stopped", "running", "paused"


@dataclass(frozen=True, slots=True)
class TimerState:
    phase: str = FOCUS
    status: str = STOPPED
    ends_at: float | None = None        # wall-clock seconds (the injected clock), while running
    remaining_s: float | None = None    # while paused
    round: int = 1                      # the focus round of the cycle, 1..long_break_after
    action: str | None = None           # what made the last change: start, pause, skip, phase-end
    by_user_id: str | None = None       # who did it (None for a phase that simply ended)
    by_name: str | None = None
    version: int = 0                    # +1 on every change

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> TimerState:
        data = json.loads(raw)
        return cls(**{key: data[key] for key in cls.__slots__ if key in data})


class TimerStore(Protocol):
    async def get(self, room_id: str) -> TimerState | None: ...
    async def replace(self, room_id: str, expected_version: int | None,
                      state: TimerState) -> bool:
        """Write `state` if the stored one has `expected_version` (None: only if there is none)."""
    async def all(self) -> dict[str, TimerState]: ...


class MemoryTimerStore:
    """Single-process timers; no method awaits, so the compare-and-set is atomic."""

    def __init__(self) -> None:
        self._timers: dict[str, TimerState] = {}

    async def get(self, room_id: str) -> TimerState | None:
        return self._timers.get(room_id)

    async def replace(self, room_id: str, expected_version: int | None,
                      state: TimerState) -> bool:
        current = self._timers.get(room_id)
        if (current.version if current is not None else None) != expected_version:
            return False
        self._timers[room_id] = state
        return True

    async def all(self) -> dict[str, TimerState]:
        return dict(self._timers)

    def table_sizes(self) -> dict[str, int]:
        return {"timers": len(self._timers)}
