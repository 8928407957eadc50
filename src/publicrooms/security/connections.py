"""Connection abuse: concurrent Socket.IO connections per IP key and reconnect backoff."""

from __future__ import annotations

from collections import deque

from publicrooms.clock import Clock
from publicrooms.errors import ReconnectionThrottled, TooManyConnections


class ConnectionGuard:
    """Admits Engine.IO connections (a tab's namespaces share one) per IP key.

    A key may hold `max_per_key` connections at once. Connecting more than `free_attempts` times
    within `window_s` makes the next connection wait, doubling from `base_s` up to `max_s`.
    """

    def __init__(self, *, clock: Clock, max_per_key: int, base_s: float, max_s: float,
                 free_attempts: int, window_s: float) -> None:
        self._clock = clock
        self._max_per_key = max_per_key
        self._base_s = base_s
        self._max_s = max_s
        self._free_attempts = free_attempts
        self._window_s = window_s
        self._eio: dict[str, tuple[str, int]] = {}       # eio sid → (ip key, namespaces open)
        self._by_key: dict[str, set[str]] = {}           # ip key → eio sids
        self._attempts: dict[str, deque[float]] = {}     # ip key → recent connection times
        self._next_allowed: dict[str, float] = {}        # ip key → earliest next connection

    def admit(self, ip_key: str, eio_sid: str) -> None:
        """Count a namespace connection; a new Engine.IO connection must pass both limits."""
        if eio_sid in self._eio:
            key, count = self._eio[eio_sid]
            self._eio[eio_sid] = (key, count + 1)
            return
        now = self._clock.monotonic()
        next_allowed = self._next_allowed.get(ip_key, 0.0)
        if now < next_allowed:
            raise ReconnectionThrottled(retry_after_s=next_allowed - now)
        if len(self._by_key.get(ip_key, ())) >= self._max_per_key:
            raise TooManyConnections(details={"limit": self._max_per_key})
        attempts = self._attempts.setdefault(ip_key, deque())
        while attempts and attempts[0] <= now - self._window_s:
            attempts.popleft()
        attempts.append(now)
        excess = len(attempts) - self._free_attempts
        if excess > 0:
            self._next_allowed[ip_key] = now + min(self._max_s, self._base_s * 2 ** (excess - 1))
        self._eio[eio_sid] = (ip_key, 1)
        self._by_key.setdefault(ip_key, set()).add(eio_sid)

    def release(self, eio_sid: str) -> None:
        """A namespace connection closed; the Engine.IO connection ends with its last one."""
        entry = self._eio.get(eio_sid)
        if entry is None:
            return
        ip_key, count = entry
        if count > 1:
            self._eio[eio_sid] = (ip_key, count - 1)
            return
        del self._eio[eio_sid]
        sids = self._by_key.get(ip_key)
        if sids is not None:
            sids.discard(eio_sid)
            if not sids:
                del self._by_key[ip_key]

    def open_connections(self, ip_key: str) -> int:
        return len(self._by_key.get(ip_key, ()))

    def sweep(self) -> int:
        """Forget attempt histories and waits that have run out."""
        now = self._clock.monotonic()
        removed = 0
        for key, attempts in list(self._attempts.items()):
            while attempts and attempts[0] <= now - self._window_s:
                attempts.popleft()
            if not attempts:
                del self._attempts[key]
                removed += 1
        for key in [k for k, until in self._next_allowed.items() if until <= now]:
            del self._next_allowed[key]
            removed += 1
        return removed

    def table_sizes(self) -> dict[str, int]:
        return {"eio_connections": len(self._eio), "keys_connected": len(self._by_key),
                "reconnect_histories": len(self._attempts), "reconnect_waits": len(self._next_allowed)}
