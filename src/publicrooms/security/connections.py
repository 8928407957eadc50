"""Connection abuse: concurrent Socket.IO connections per IP key and reconnect backoff."""

from __future__ import annotations

from publicrooms.errors import ReconnectionThrottled, TooManyConnections
from publicrooms.state.connections import ConnectionStore


class ConnectionGuard:
    """Admits Engine.IO connections (a tab's namespaces share one) per IP key, on every node."""

    def __init__(self, *, store: ConnectionStore, max_per_key: int) -> None:
        self._store = store
        self._max_per_key = max_per_key

    async def admit(self, ip_key: str, eio_sid: str) -> None:
        outcome = await self._store.admit(ip_key, eio_sid)
        if outcome.ok:
            return
        if outcome.too_many:
            raise TooManyConnections(details={"limit": self._max_per_key})
        raise ReconnectionThrottled(retry_after_s=outcome.wait_s)

    async def release(self, eio_sid: str) -> None:
        await self._store.release(eio_sid)

    async def open_connections(self, ip_key: str) -> int:
        return await self._store.open_connections(ip_key)
