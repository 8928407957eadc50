"""Seat holds: a seat no socket holds is kept until a deadline, then released by the sweep."""

from __future__ import annotations

from typing import Protocol

from publicrooms.clock import Clock


class HoldStore(Protocol):
    async def hold(self, user_id: str, seconds: float) -> None:
        """Keep the user's seat for `seconds` without a socket."""
    async def unhold(self, user_id: str) -> None: ...
    async def holding(self, user_id: str) -> bool: ...
    async def take_expired(self) -> list[str]:
        """Remove and return the holds whose deadline has passed."""


class MemoryHoldStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._deadlines: dict[str, float] = {}  # user id → monotonic deadline

    async def hold(self, user_id: str, seconds: float) -> None:
        self._deadlines[user_id] = self._clock.monotonic() + seconds

    async def unhold(self, user_id: str) -> None:
        self._deadlines.pop(user_id, None)

    async def holding(self, user_id: str) -> bool:
        return user_id in self._deadlines

    async def take_expired(self) -> list[str]:
        now = self._clock.monotonic()
        expired = [user for user, deadline in self._deadlines.items() if deadline <= now]
        for user_id in expired:
            del self._deadlines[user_id]
        return expired

    def table_sizes(self) -> dict[str, int]:
        return {"seat_holds": len(self._deadlines)}
