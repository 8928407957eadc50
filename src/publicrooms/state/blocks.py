"""Rate-limit blocks: once a key goes over a rule, it is refused until the block ends."""

from __future__ import annotations

from typing import Protocol

from publicrooms.clock import Clock
from publicrooms.state.windows import sweep_deadlines


class BlockStore(Protocol):
    async def block(self, rule: str, key: str, seconds: float) -> None: ...
    async def blocked_for(self, rule: str, key: str) -> float:
        """Seconds left on the block (0 when none)."""


class MemoryBlockStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # (rule, key) → monotonic time the block ends; our clock, so tests can step over it.
        self._until: dict[tuple[str, str], float] = {}

    async def block(self, rule: str, key: str, seconds: float) -> None:
        self._until[(rule, key)] = self._clock.monotonic() + seconds

    async def blocked_for(self, rule: str, key: str) -> float:
        until = self._until.get((rule, key))
        if until is None:
            return 0.0
        left = until - self._clock.monotonic()
        if left <= 0:
            del self._until[(rule, key)]
            return 0.0
        return left

    def sweep(self) -> int:
        return sweep_deadlines(self._until, self._clock.monotonic())

    def table_sizes(self) -> dict[str, int]:
        return {"blocks": len(self._until)}
