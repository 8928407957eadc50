"""Chat inserts on SQLite, on a writer thread of their own.

Through the async engine a batch costs the event loop the ORM-free but still heavy path of
SQLAlchemy's greenlet bridge, statement compilation per call and aiosqlite's queue hop for each
of execute, commit and cursor close. Here one thread owns one `sqlite3` connection and a
prepared INSERT: the loop hands it a batch of rows and gets one wake-up back once the batch has
committed. The rows are written exactly as the engine writes them (the same table, the same
text form of the timestamps), so everything else keeps reading them through the engine.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from publicrooms.lean import settle
from publicrooms.store.database import sqlite_pragmas

if TYPE_CHECKING:
    from publicrooms.store.sql import MessageRecord

_INSERT = ("INSERT INTO messages (id, room_id, user_id, sender_name, content, created_at) "
           "VALUES (?, ?, ?, ?, ?, ?)")


def stored_time(value: datetime) -> str:
    """A timestamp as SQLAlchemy's SQLite DATETIME stores it: UTC, text, microseconds."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteChatWriter:
    """Inserts batches of messages in one transaction each, in the order they were handed in."""

    def __init__(self, path: str, *, busy_timeout_s: float = 30) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def insert(self, records: Sequence[MessageRecord]) -> None:
        """Commit `records` in one transaction; raises what SQLite raised (nothing written)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        rows = [(r.id, r.room_id, r.user_id, r.sender_name, r.content, stored_time(r.created_at))
                for r in records]
        self._start()
        self._jobs.put((rows, loop, done))
        await done

    def close(self) -> None:
        """Finish what was handed in, then close the connection (blocks until then)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="chat-sqlite",
                                                daemon=True)
                self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, timeout=self._busy_timeout_s,
                                     check_same_thread=False)
        sqlite_pragmas(connection)
        return connection

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        while (job := self._jobs.get()) is not None:
            rows, loop, done = job
            try:
                if connection is None:
                    connection = self._connect()
                with connection:  # one transaction: committed, or rolled back on error
                    connection.executemany(_INSERT, rows)
            except Exception as error:  # noqa: BLE001 - handed to the waiting batch
                _answer(loop, done, error)
            else:
                _answer(loop, done, None)
        if connection is not None:
            connection.close()


def _answer(loop: asyncio.AbstractEventLoop, done: asyncio.Future,
            error: BaseException | None) -> None:
    try:
        loop.call_soon_threadsafe(settle, done, error)
    except RuntimeError:
        pass  # the loop has closed: nobody waits any more
