"""Violation windows, IP blocks and the suspicious-event outbox, across every node."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from publicrooms.clock import Clock
from publicrooms.state.windows import sweep_deadlines, sweep_windows, trim


@dataclass(frozen=True, slots=True)
class AbusePolicy:
    """`threshold` violations within `window_s` block the key for `block_s`."""

    threshold: int
    window_s: float
    block_s: float


SuspiciousEvent = tuple[str, str, str, datetime]   # ip key, kind, detail, when


class AbuseStore(Protocol):
    async def record(self, ip_key: str, event: SuspiciousEvent) -> bool:
        """Count a violation and queue its event; True when it starts a block."""
    async def add_event(self, event: SuspiciousEvent) -> None: ...
    async def blocked_for(self, ip_key: str) -> float:
        """Seconds left on the key's block (0 when none)."""
    async def take_events(self, limit: int = 1000) -> list[SuspiciousEvent]:
        """Remove and return queued events, oldest first (to be written to SQL)."""


class MemoryAbuseStore:
    def __init__(self, clock: Clock, policy: AbusePolicy) -> None:
        self._clock = clock
        self._policy = policy
        self._recent: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._events: list[SuspiciousEvent] = []

    async def record(self, ip_key: str, event: SuspiciousEvent) -> bool:
        now = self._clock.monotonic()
        self._events.append(event)
        recent = self._recent.setdefault(ip_key, deque())
        recent.append(now)
        trim(recent, now - self._policy.window_s)
        if len(recent) >= self._policy.threshold and ip_key not in self._blocked_until:
            self._blocked_until[ip_key] = now + self._policy.block_s
            recent.clear()
            return True
        return False

    async def add_event(self, event: SuspiciousEvent) -> None:
        self._events.append(event)

    async def blocked_for(self, ip_key: str) -> float:
        until = self._blocked_until.get(ip_key)
        if until is None:
            return 0.0
        left = until - self._clock.monotonic()
        if left <= 0:
            del self._blocked_until[ip_key]
            return 0.0
        return left

    async def take_events(self, limit: int = 1000) -> list[SuspiciousEvent]:
        taken, self._events = self._events[:limit], self._events[limit:]
        return taken

    def sweep(self) -> int:
        """Drop ended blocks and violation records older than the window."""
        now = self._clock.monotonic()
        return (sweep_deadlines(self._blocked_until, now)
                + sweep_windows(self._recent, now - self._policy.window_s))

    def table_sizes(self) -> dict[str, int]:
        return {"violations": len(self._recent), "ip_blocks": len(self._blocked_until),
                "pending_events": len(self._events)}
