"""The only place that reads the time or sleeps; tests inject a FakeClock."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone


class Clock:
    """Wall time (UTC), monotonic time and sleeping, from the system."""

    def now(self) -> datetime:
        """Current wall time as an aware UTC datetime."""
        return datetime.now(timezone.utc)

    def time(self) -> float:
        """Current wall time in seconds since the epoch."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock(Clock):
    """A clock that moves only when a test advances it; sleepers wake as it passes their deadline."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._now, timezone.utc)

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, future))
        await future

    def sleepers(self) -> int:
        """How many sleeps wait for the clock to move."""
        return len(self._sleepers)

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed.

        Safe to call from another thread than the one whose loop owns the sleepers.
        """
        self._now += seconds
        due = [(d, f) for d, f in self._sleepers if d <= self._now]
        self._sleepers = [(d, f) for d, f in self._sleepers if d > self._now]
        for _, future in due:
            loop = future.get_loop()
            loop.call_soon_threadsafe(_wake, future)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
