"""Sweeps: inactive users, unclaimed seats, and every in-memory table that could grow."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Protocol

import structlog

from publicrooms.clock import Clock
from publicrooms.state.activity import ActivityStore
from publicrooms.services.rooms import RoomService
from publicrooms.store.sql import SqlStore

log = structlog.get_logger("publicrooms.cleanup")


class Sweepable(Protocol):
    def sweep(self) -> int | Awaitable[int]: ...


class InactiveUserSweep:
    """Users silent for `inactive_after_s` are disconnected, unseated and deleted (with cascades)."""

    def __init__(self, *, sql: SqlStore, rooms: RoomService, activity: ActivityStore,
                 clock: Clock, inactive_after_s: float,
                 disconnect_user: Callable[[str], Awaitable[int]]) -> None:
        self._sql = sql
        self._rooms = rooms
        self._activity = activity
        self._clock = clock
        self._inactive_after_s = inactive_after_s
        self._disconnect_user = disconnect_user

    async def run(self) -> int:
        # The cutoff is read before the activity is taken: whatever happens while the batch
        # is being written is newer than the cutoff. Read after a slow write, it would judge
        # users by activity older than what they did meanwhile (still in the buffer).
        cutoff = self._clock.now() - timedelta(seconds=self._inactive_after_s)
        await self._sql.touch_users(await self._activity.take())
        users = await self._sql.inactive_users(cutoff)
        for user in users:
            sockets = await self._disconnect_user(user.id)
            await self._rooms.leave_queue(user_id=user.id)
            await self._rooms.leave_room(user_id=user.id)
            await self._activity.forget(user.id)
            log.info("inactive user removed", user_id=user.id, sockets_closed=sockets)
        removed = await self._sql.delete_users([user.id for user in users])
        log.info("inactive sweep", removed=removed, cutoff=cutoff.isoformat())
        return removed


class TableSweep:
    """Expired rate-limit blocks, reconnect histories, violation windows; flushes abuse events."""

    def __init__(self, *, tables: Sequence[Sweepable], flush: Callable[[], Awaitable[int]],
                 sync_records: Callable[[], Awaitable[int]] | None = None) -> None:
        self._tables = tables
        self._flush = flush
        self._sync_records = sync_records

    async def run(self) -> int:
        removed = 0
        for table in self._tables:
            result = table.sweep()
            removed += await result if inspect.isawaitable(result) else result
        flushed = await self._flush()
        synced = await self._sync_records() if self._sync_records is not None else 0
        log.info("table sweep", removed=removed, events_flushed=flushed, records_synced=synced)
        return removed
