"""Leases: each period of a periodic job is run by exactly one node."""

from __future__ import annotations

from typing import Protocol


class LeaseStore(Protocol):
    async def claim(self, job: str, period: int, ttl_s: float) -> bool:
        """True for the first node to claim this job's period; False for every other."""


class MemoryLeaseStore:
    """One process: every period is this process's."""

    async def claim(self, job: str, period: int, ttl_s: float) -> bool:
        return True
