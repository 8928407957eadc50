"""Application-level health checks: idle sockets get `ping`; three unanswered ones end the socket."""

from __future__ import annotations

import socketio
import structlog

from publicrooms.clock import Clock
from publicrooms.errors import ConnectionTimeout, DomainError
from publicrooms.realtime.connections import ConnectionRegistry

log = structlog.get_logger("publicrooms.health")


class HealthChecker:
    def __init__(self, *, sio: socketio.AsyncServer, registry: ConnectionRegistry, clock: Clock,
                 idle_s: float, max_missed: int) -> None:
        self._sio = sio
        self._registry = registry
        self._clock = clock
        self._idle_s = idle_s
        self._max_missed = max_missed

    async def run(self) -> int:
        """One round: ping the idle, terminate the unresponsive; returns how many were ended."""
        now = self._clock.monotonic()
        terminated = 0
        for connection in self._registry.all():
            if now - connection.last_activity < self._idle_s:
                continue
            if connection.missed_pings >= self._max_missed:
                await terminate(self._sio, connection.sid, connection.namespace,
                                ConnectionTimeout(f"No answer to {self._max_missed} pings."))
                log.info("connection terminated", reason="CONNECTION_TIMEOUT",
                         namespace=connection.namespace, missed_pings=connection.missed_pings)
                terminated += 1
                continue
            connection.missed_pings += 1
            await self._sio.emit("ping", {"missed": connection.missed_pings},
                                 to=connection.sid, namespace=connection.namespace)
        log.info("health check", connections=len(self._registry), terminated=terminated)
        return terminated


async def terminate(sio: socketio.AsyncServer, sid: str, namespace: str,
                    error: DomainError) -> None:
    """Tell the socket why, then close it (its disconnect cleanup runs as usual)."""
    await sio.emit("connection-rejected", error.payload(), to=sid, namespace=namespace)
    await sio.disconnect(sid, namespace=namespace)
