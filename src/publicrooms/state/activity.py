"""When each user last did something: buffered per event, taken in batches by the sweep."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from publicrooms.clock import Clock


class ActivityStore(Protocol):
    async def touch(self, user_id: str) -> None:
        """Per event: a dict store; at most one round trip per user per few seconds."""
    async def flush(self) -> None:
        """Publish this node's buffered activity where the sweep will see it."""
    async def take(self) -> dict[str, datetime]:
        """Every node's activity since the last take (and forget it)."""
    async def forget(self, user_id: str) -> None: ...


class MemoryActivityStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last: dict[str, datetime] = {}

    async def touch(self, user_id: str) -> None:
        self._last[user_id] = self._clock.now()

    async def flush(self) -> None:
        return None

    async def take(self) -> dict[str, datetime]:
        taken, self._last = self._last, {}
        return taken

    async def forget(self, user_id: str) -> None:
        self._last.pop(user_id, None)

    def table_sizes(self) -> dict[str, int]:
        return {"activity": len(self._last)}
