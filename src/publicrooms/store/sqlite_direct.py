"""A SQLite file's hot statements on a thread of its own: chat inserts, and what a join reads
and writes.

Through the async engine each statement costs the event loop SQLAlchemy's greenlet bridge, a
pool checkout (a wait in line when a connect storm has every pooled connection busy) and
aiosqlite's queue hop for each of cursor, execute, fetch, commit and close; and two pooled
connections writing at once make one of them sleep in SQLite's busy handler. Here one thread
owns one `sqlite3` connection: the loop hands it a job (a batch of chat rows, or one prepared
statement) and gets one wake-up back once the job has committed. Jobs run in the order they
were handed in. The jobs waiting when the thread comes for work (a connect storm's users and
seats) share one transaction, each in a savepoint of its own: one commit for all of them, and a
job that fails is rolled back alone, its error raised to its caller only. A lone job is a
transaction of its own.

A chat batch is the exception: the loop commits it itself, on a connection of its own, when
the write lock is free at once (see `insert`), and hands it to the thread only when it is not.

The statements are SQLAlchemy's own, compiled once for SQLite (`Prepared`); the rows are
written as the engine writes them (the same tables, the same text form of the timestamps), so
everything else keeps reading and writing them through the engine. A failure is raised as the
engine would raise it (`sqlalchemy.exc.IntegrityError`, `OperationalError`…), so callers tell
an outage from a bad statement as they always did.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy.exc
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.sql import ClauseElement

from publicrooms.store.database import sqlite_pragmas

if TYPE_CHECKING:
    from publicrooms.store.sql import MessageRecord

_INSERT_MESSAGES = ("INSERT INTO messages (id, room_id, user_id, sender_name, content, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)")
_QMARK = sqlite_dialect.dialect(paramstyle="qmark")
_CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"


def stored_time(value: datetime) -> str:
    """A timestamp as SQLAlchemy's SQLite DATETIME stores it: UTC, text, microseconds."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def read_time(value: str) -> datetime:
    """A stored timestamp back as the engine reads it, marked UTC (it was stored as UTC)."""
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


class Prepared:
    """A SQLAlchemy statement compiled once for SQLite with `?` placeholders; `args` lays out
    a call's parameters in placeholder order (the statement's own defaults filling the rest,
    timestamps in their stored form)."""

    __slots__ = ("sql", "_names", "_defaults")

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None) -> None:
        compiled = statement.compile(dialect=_QMARK,
                                     column_keys=list(keys) if keys is not None else None)
        self.sql = str(compiled)
        self._names = tuple(compiled.positiontup or ())
        self._defaults = {name: bind.value for name, bind in compiled.binds.items()
                          if not bind.required}

    def args(self, params: dict[str, Any]) -> tuple:
        values = []
        for name in self._names:
            value = params[name] if name in params else self._defaults[name]
            values.append(stored_time(value) if isinstance(value, datetime) else value)
        return tuple(values)


GROUP_MAX = 64  # jobs sharing one transaction at most
CHECKPOINT_EVERY = 200  # inline chat commits between two checkpoints (SQLite's own: ~1000 pages)
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED} | {
    getattr(sqlite3, name) for name in ("SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_RECOVERY",
                                        "SQLITE_LOCKED_SHAREDCACHE") if hasattr(sqlite3, name)}


class SqliteDirect:
    """Runs jobs on one SQLite connection, in the order handed in; the jobs waiting together
    share a transaction (a savepoint each)."""

    def __init__(self, path: str, *, busy_timeout_s: float = 30) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.commits = 0  # transactions committed (jobs / commits: how much grouping saves)
        self._inline: sqlite3.Connection | None = None  # the loop's own, for chat batches
        self.inline_commits = 0

    async def insert(self, records: Sequence[MessageRecord]) -> None:
        """Commit chat `records` in one transaction; raises what the engine would (nothing
        written).

        Written on the loop's own thread when the file's write lock is free at once (a chat
        batch's insert is tens of microseconds; the hand-off to the thread and back costs
        more, and the two threads' turns at the GIL more again); when another connection
        holds the lock, the batch goes to the thread, which waits for it. That connection
        never checkpoints (no `fsync` on the loop): every `CHECKPOINT_EVERY` inline commits,
        the thread runs a passive checkpoint."""
        rows = [(r.id, r.room_id, r.user_id, r.sender_name, r.content, stored_time(r.created_at))
                for r in records]
        if self._insert_inline(rows):
            return
        await self._run(_insert_messages, rows, _INSERT_MESSAGES)

    def _insert_inline(self, rows: list[tuple]) -> bool:
        """True: `rows` are committed. False: the write lock was taken, nothing was written.
        Any other failure is raised as the engine raises it (nothing written)."""
        connection = self._inline
        try:
            if connection is None:
                connection = self._inline = self._connect(busy_timeout_s=0)
                connection.execute("PRAGMA wal_autocheckpoint=0")
            with connection:  # one transaction: committed, or rolled back on error
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(_INSERT_MESSAGES, rows)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode in _BUSY:
                return False
            self._close_inline()
            raise _as_engine_error(error, _INSERT_MESSAGES, rows) from None
        except sqlite3.Error as error:
            raise _as_engine_error(error, _INSERT_MESSAGES, rows) from None
        self.commits += 1
        self.inline_commits += 1
        if self.inline_commits % CHECKPOINT_EVERY == 0:
            self._start()
            self._jobs.put((_checkpoint, None, _CHECKPOINT, None, None))
        return True

    def _close_inline(self) -> None:
        connection, self._inline = self._inline, None
        if connection is not None:
            with contextlib.suppress(sqlite3.Error):
                connection.close()

    async def fetch(self, statement: Prepared, params: dict[str, Any]) -> list[tuple]:
        """The rows `statement` returns (a SELECT, or a write with RETURNING, committed)."""
        return await self._run(_fetch, statement.args(params), statement.sql)

    async def execute(self, statement: Prepared, params: dict[str, Any]) -> int:
        """Run a write and commit it; the rows it changed."""
        return await self._run(_execute, statement.args(params), statement.sql)

    async def _run(self, job: Callable[[sqlite3.Connection, Any, str], Any], args: Any,
                   sql: str) -> Any:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._start()
        self._jobs.put((job, args, sql, loop, done))
        return await done

    def close(self) -> None:
        """Finish what was handed in, then close the connection (blocks until then)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()
        self._close_inline()

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="sqlite-direct",
                                                daemon=True)
                self._thread.start()

    def _connect(self, busy_timeout_s: float | None = None) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self._path, check_same_thread=False,
            timeout=self._busy_timeout_s if busy_timeout_s is None else busy_timeout_s)
        sqlite_pragmas(connection)
        return connection

    def _serve(self) -> None:
        connection: sqlite3.Connection | None = None
        running = True
        while running and (item := self._jobs.get()) is not None:
            group = [item]
            while len(group) < GROUP_MAX:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # closing: this group is the last
                    running = False
                    break
                group.append(item)
            try:
                if connection is None:
                    connection = self._connect()
            except Exception as error:  # noqa: BLE001 - every caller is told
                for job, args, sql, loop, done in group:
                    if job is _checkpoint:
                        continue
                    _answer(loop, done, None, _as_engine_error(error, sql, args))
                continue
            checkpoint = any(item[0] is _checkpoint for item in group)
            if checkpoint:  # nobody waits for it; one is enough
                group = [item for item in group if item[0] is not _checkpoint]
                with contextlib.suppress(sqlite3.Error):  # the next one tries again
                    _checkpoint(connection, None, _CHECKPOINT)
                if not group:
                    continue
            if len(group) == 1:
                self._run_alone(connection, *group[0])
            elif not self._run_together(connection, group):
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
                connection = None
        if connection is not None:
            connection.close()

    def _run_alone(self, connection: sqlite3.Connection, job: Callable, args: Any, sql: str,
                   loop: asyncio.AbstractEventLoop, done: asyncio.Future) -> None:
        try:
            with connection:  # one transaction: committed, or rolled back on error
                result = job(connection, args, sql)
        except Exception as error:  # noqa: BLE001 - handed to the waiting caller
            _answer(loop, done, None, _as_engine_error(error, sql, args))
        else:
            self.commits += 1
            _answer(loop, done, result, None)

    def _run_together(self, connection: sqlite3.Connection, group: list[tuple]) -> bool:
        """One transaction for `group`, each job in a savepoint: a job that fails is undone
        alone; the answers go out once the transaction has committed (or, if it could not be,
        every job gets that error: nothing of the group was written). False: the connection
        could not even roll back, and is not to be used again."""
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            # The write lock first: a job that writes after one that read must not need an
            # upgrade another connection could refuse at once.
            connection.execute("BEGIN IMMEDIATE")
            for job, args, sql, _loop, _done in group:
                connection.execute("SAVEPOINT job")
                try:
                    result = job(connection, args, sql)
                except Exception as error:  # noqa: BLE001 - this job's caller is told
                    try:
                        connection.execute("ROLLBACK TO job")
                    except sqlite3.Error:
                        raise error from None  # SQLite ended the transaction: so does this
                    outcomes.append((None, _as_engine_error(error, sql, args)))
                else:
                    outcomes.append((result, None))
                connection.execute("RELEASE job")
            connection.commit()
        except Exception as error:  # noqa: BLE001 - the transaction failed: every job is told
            usable = True
            try:
                if connection.in_transaction:
                    connection.rollback()
            except sqlite3.Error:
                usable = False  # nothing was committed; the next job gets a new connection
            for job, args, sql, loop, done in group:
                _answer(loop, done, None, _as_engine_error(error, sql, args))
            return usable
        self.commits += 1
        for (_job, _args, _sql, loop, done), (result, error) in zip(group, outcomes):
            _answer(loop, done, result, error)
        return True


def _as_engine_error(error: BaseException, sql: str, args: Any) -> BaseException:
    """A sqlite3 error as the engine raises it (`sqlalchemy.exc.IntegrityError`…)."""
    if isinstance(error, sqlite3.Error):
        return sqlalchemy.exc.DBAPIError.instance(sql, args, error, sqlite3.Error)
    return error


def _insert_messages(connection: sqlite3.Connection, rows: list[tuple], sql: str) -> None:
    connection.executemany(sql, rows)


def _checkpoint(connection: sqlite3.Connection, _args: None, sql: str) -> None:
    connection.execute(sql).fetchall()


def _fetch(connection: sqlite3.Connection, args: tuple, sql: str) -> list[tuple]:
    return connection.execute(sql, args).fetchall()


def _execute(connection: sqlite3.Connection, args: tuple, sql: str) -> int:
    return connection.execute(sql, args).rowcount


def _settle(done: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if done.done():
        return  # cancelled: nobody waits for it any more
    if error is None:
        done.set_result(result)
    else:
        done.set_exception(error)


def _answer(loop: asyncio.AbstractEventLoop, done: asyncio.Future, result: Any,
            error: BaseException | None) -> None:
    try:
        loop.call_soon_threadsafe(_settle, done, result, error)
    except RuntimeError:
        pass  # the loop has closed: nobody waits any more
