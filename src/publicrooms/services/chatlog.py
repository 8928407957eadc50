"""Group commit for chat: one transaction for the messages that arrive together.

A message is handed to the log with what announces it. The log writes every message waiting at
that moment in one transaction (core SQL, no ORM session); once it has committed it hands the
batch's announcements, in commit order, to `announce` (one call per batch: one broadcast per
room, one round trip to the other nodes), and only then does each sender's `append` return, so
the acknowledgement follows the commit (an acknowledged message survives a crash) and the
order the room sees is the order of the history (`seq`). Messages arriving while a
batch is written form the next batch: under load the transactions grow, while a lone message is
written at once.

`window_s` paces the batches: one starts no sooner than `window_s` after the one before it
started. A message after a quiet spell is still written at once; under a steady stream each
message waits at most `window_s` for company, and the transactions (and the fan-outs that follow
them, sent to each seat in one write per batch) are fewer and larger. The pacing runs on the
system's time (a `Clock()` of its own, not the application's injectable one, so that tests on a
fake clock still see their messages go out); a test of the pacing hands it a fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from publicrooms.clock import Clock
from publicrooms.lean import settle
from publicrooms.store.sql import MessageRecord, SqlStore

# Sends a committed batch's announcements, in commit order.
Announce = Callable[[list[Any]], Awaitable[None]]


async def _silent(_: list[Any]) -> None:
    pass


@dataclass(slots=True)
class _Pending:
    record: MessageRecord
    announcement: Any
    done: asyncio.Future


class ChatLog:
    def __init__(self, sql: SqlStore, *, window_s: float = 0.0, max_batch: int = 200,
                 across_nodes: bool = False, pacing_clock: Clock | None = None,
                 announce: Announce = _silent) -> None:
        self._sql = sql
        self.announce = announce  # the room service sets its own (services/rooms.py)
        self._clock = pacing_clock or Clock()
        self._window_s = window_s
        self._max_batch = max_batch
        # Several nodes write to one database: the fan-out runs under the database's chat lock.
        self._across_nodes = across_nodes
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task | None = None
        self._next_start = float("-inf")  # no batch starts before this (monotonic time)

    def pending(self) -> int:
        """Messages handed in and not yet taken into a transaction."""
        return len(self._pending)

    async def append(self, record: MessageRecord, announcement: Any) -> None:
        """Persist `record`, then send `announcement` (with its batch's, through `announce`);
        returns (or raises) once both are done."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(record, announcement, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="chat-log")
        # A sender that goes away does not stop its message: the writer owns it now (and
        # settles a cancelled `done` no further). Awaited directly, not through a shield: the
        # sender's ack then goes out in the turn after the fan-out, in the same write to it.
        await done

    async def _drain(self) -> None:
        clock = self._clock
        while self._pending:
            if self._window_s > 0:
                wait = self._next_start - clock.monotonic()
                if wait > 0:
                    await clock.sleep(wait)
                self._next_start = clock.monotonic() + self._window_s
            batch = self._pending[:self._max_batch]
            del self._pending[:self._max_batch]
            await self._write(batch)

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            async with self._sql.message_batch([p.record for p in batch],
                                               across_nodes=self._across_nodes):
                await self.announce([p.announcement for p in batch])
        except Exception as error:  # noqa: BLE001 - every sender of the batch is told
            for pending in batch:
                settle(pending.done, error)
        else:
            for pending in batch:
                settle(pending.done, None)
