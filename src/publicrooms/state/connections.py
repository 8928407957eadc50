"""Connection counts per IP key and reconnect backoff, across every node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from publicrooms.clock import Clock
from publicrooms.state.windows import sweep_deadlines, sweep_windows, trim


@dataclass(frozen=True, slots=True)
class ConnectionPolicy:
    """`max_per_key` open at once; past `free_attempts` in `window_s`, waits double from `base_s`."""

    max_per_key: int
    base_s: float
    max_s: float
    free_attempts: int
    window_s: float


@dataclass(frozen=True, slots=True)
class Admit:
    """The outcome of admitting a namespace connection."""

    ok: bool
    too_many: bool = False
    wait_s: float = 0.0


class ConnectionStore(Protocol):
    async def admit(self, ip_key: str, eio_sid: str) -> Admit:
        """Count a namespace connection; a new Engine.IO connection must pass both limits."""
    async def release(self, eio_sid: str) -> None:
        """A namespace connection closed; the Engine.IO connection ends with its last one."""
    async def open_connections(self, ip_key: str) -> int: ...
    async def release_node(self, node_id: str) -> None:
        """Every connection a dead node held is gone."""
    async def keep_only(self, node_id: str, is_live: Callable[[str], bool]) -> int:
        """Release a live node's connections that it no longer has (asked after reading
        shared state, so a connection admitted meanwhile counts as live); how many."""


class MemoryConnectionStore:
    def __init__(self, clock: Clock, policy: ConnectionPolicy) -> None:
        self._clock = clock
        self._policy = policy
        self._eio: dict[str, tuple[str, int]] = {}       # eio sid → (ip key, namespaces open)
        self._by_key: dict[str, int] = {}                # ip key → its Engine.IO connections
        # ip key → recent connection times (a list: one per address, a deque is ~0.8 kB)
        self._attempts: dict[str, list[float]] = {}
        self._next_allowed: dict[str, float] = {}        # ip key → earliest next connection

    async def admit(self, ip_key: str, eio_sid: str) -> Admit:
        policy = self._policy
        if eio_sid in self._eio:
            key, count = self._eio[eio_sid]
            self._eio[eio_sid] = (key, count + 1)
            return Admit(True)
        now = self._clock.monotonic()
        next_allowed = self._next_allowed.get(ip_key, 0.0)
        if now < next_allowed:
            return Admit(False, wait_s=next_allowed - now)
        if self._by_key.get(ip_key, 0) >= policy.max_per_key:
            return Admit(False, too_many=True)
        attempts = self._attempts.setdefault(ip_key, [])
        trim(attempts, now - policy.window_s)
        attempts.append(now)
        excess = len(attempts) - policy.free_attempts
        if excess > 0:
            self._next_allowed[ip_key] = now + min(policy.max_s,
                                                   policy.base_s * 2 ** (excess - 1))
        self._eio[eio_sid] = (ip_key, 1)
        self._by_key[ip_key] = self._by_key.get(ip_key, 0) + 1
        return Admit(True)

    async def release(self, eio_sid: str) -> None:
        entry = self._eio.get(eio_sid)
        if entry is None:
            return
        ip_key, count = entry
        if count > 1:
            self._eio[eio_sid] = (ip_key, count - 1)
            return
        del self._eio[eio_sid]
        left = self._by_key.get(ip_key, 0) - 1
        if left > 0:
            self._by_key[ip_key] = left
        else:
            self._by_key.pop(ip_key, None)

    async def open_connections(self, ip_key: str) -> int:
        return self._by_key.get(ip_key, 0)

    async def release_node(self, node_id: str) -> None:
        return None  # one process: its connections die with it

    async def keep_only(self, node_id: str, is_live: Callable[[str], bool]) -> int:
        return 0  # in-process counts cannot miss a release

    def sweep(self) -> int:
        """Forget attempt histories and waits that have run out."""
        now = self._clock.monotonic()
        return (sweep_windows(self._attempts, now - self._policy.window_s)
                + sweep_deadlines(self._next_allowed, now))

    def table_sizes(self) -> dict[str, int]:
        return {"eio_connections": len(self._eio), "keys_connected": len(self._by_key),
                "reconnect_histories": len(self._attempts),
                "reconnect_waits": len(self._next_allowed)}
