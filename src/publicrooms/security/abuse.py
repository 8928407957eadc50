"""Suspicious activity: every violation is logged and stored; repeated ones block the IP key."""

from __future__ import annotations

import structlog

from publicrooms.clock import Clock
from publicrooms.errors import IpBlocked
from publicrooms.state.abuse import AbusePolicy, AbuseStore

log = structlog.get_logger("publicrooms.abuse")


class AbuseMonitor:
    """Records violations by IP key (never the raw IP) and blocks keys that keep offending."""

    def __init__(self, *, store: AbuseStore, clock: Clock, policy: AbusePolicy) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self.counts: dict[str, int] = {}  # violations by kind seen by this node (metrics)
        # Operators' bans (services/moderation.BanList), checked before the automatic blocks.
        self.bans = None

    async def record(self, ip_key: str, kind: str, detail: str = "") -> None:
        """One violation of `kind` by `ip_key`."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        log.warning("suspicious activity", ip_key=ip_key, kind=kind, detail=detail)
        if await self._store.record(ip_key, (ip_key, kind, detail, self._clock.now())):
            log.warning("ip key blocked", ip_key=ip_key, block_s=self._policy.block_s)
            await self._store.add_event(
                (ip_key, "ip-blocked", f"{self._policy.block_s:.0f}s", self._clock.now()))

    async def check(self, ip_key: str) -> None:
        """Raise IP_BLOCKED while the key's block (or an operator's ban) lasts."""
        if self.bans is not None:
            self.bans.check(ip_key)
        left = await self._store.blocked_for(ip_key)
        if left > 0:
            raise IpBlocked(retry_after_s=left)
