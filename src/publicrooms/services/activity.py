"""When each user last did something; kept in memory and written to SQL by the sweep."""

from __future__ import annotations

from datetime import datetime

from publicrooms.clock import Clock


class ActivityTracker:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last: dict[str, datetime] = {}

    def touch(self, user_id: str) -> None:
        # Per event: a dict store only; the database is written in batches by the sweep.
        self._last[user_id] = self._clock.now()

    def take(self) -> dict[str, datetime]:
        """Activity since the last take (and forget it)."""
        taken, self._last = self._last, {}
        return taken

    def forget(self, user_id: str) -> None:
        self._last.pop(user_id, None)

    def table_sizes(self) -> dict[str, int]:
        return {"activity": len(self._last)}
