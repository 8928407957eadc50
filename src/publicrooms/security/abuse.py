"""Suspicious activity: every violation is logged and stored; repeated ones block the IP key."""

from __future__ import annotations

from collections import deque

import structlog

from publicrooms.clock import Clock
from publicrooms.errors import IpBlocked

log = structlog.get_logger("publicrooms.abuse")


class AbuseMonitor:
    """Records violations by IP key (never the raw IP) and blocks keys that keep offending."""

    def __init__(self, *, clock: Clock, violations_before_block: int, window_s: float,
                 block_s: float) -> None:
        self._clock = clock
        self._threshold = violations_before_block
        self._window_s = window_s
        self._block_s = block_s
        self._recent: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self.counts: dict[str, int] = {}  # violations by kind since start (metrics)
        # Written to SQL in batches by the sweep, off the request path.
        self.pending: list[tuple[str, str, str, object]] = []

    def record(self, ip_key: str, kind: str, detail: str = "") -> None:
        """One violation of `kind` by `ip_key`."""
        now = self._clock.monotonic()
        self.counts[kind] = self.counts.get(kind, 0) + 1
        log.warning("suspicious activity", ip_key=ip_key, kind=kind, detail=detail)
        self.pending.append((ip_key, kind, detail, self._clock.now()))
        recent = self._recent.setdefault(ip_key, deque())
        recent.append(now)
        while recent and recent[0] <= now - self._window_s:
            recent.popleft()
        if len(recent) >= self._threshold and ip_key not in self._blocked_until:
            self._blocked_until[ip_key] = now + self._block_s
            recent.clear()
            log.warning("ip key blocked", ip_key=ip_key, block_s=self._block_s)
            self.pending.append((ip_key, "ip-blocked", f"{self._block_s:.0f}s", self._clock.now()))

    def check(self, ip_key: str) -> None:
        """Raise IP_BLOCKED while the key's block lasts."""
        until = self._blocked_until.get(ip_key)
        if until is None:
            return
        left = until - self._clock.monotonic()
        if left > 0:
            raise IpBlocked(retry_after_s=left)
        del self._blocked_until[ip_key]

    def take_pending(self) -> list[tuple[str, str, str, object]]:
        pending, self.pending = self.pending, []
        return pending

    def sweep(self) -> int:
        """Drop ended blocks and violation records older than the window."""
        now = self._clock.monotonic()
        removed = 0
        for key in [k for k, until in self._blocked_until.items() if until <= now]:
            del self._blocked_until[key]
            removed += 1
        for key, recent in list(self._recent.items()):
            while recent and recent[0] <= now - self._window_s:
                recent.popleft()
            if not recent:
                del self._recent[key]
                removed += 1
        return removed

    def table_sizes(self) -> dict[str, int]:
        return {"violations": len(self._recent), "ip_blocks": len(self._blocked_until),
                "pending_events": len(self.pending)}
