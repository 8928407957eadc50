"""Faults a test can cause for real: a TCP proxy to cut and restore (a backing service going
away), a table held from another database connection (a slow or busy database)."""

from __future__ import annotations

import asyncio
import contextlib
import threading


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every connection and refuses new
    ones until `restore()`. Runs on its own thread and loop, like a service elsewhere."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="tcp-proxy")
        self._server: asyncio.AbstractServer | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self._up = True
        self.port = 0

    def start(self) -> TcpProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", 0), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._pipes |= {writer, up_writer}
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer),
                             return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._pipes.discard(writer)
            writer.transport.abort()

    def _run(self, fn) -> None:  # noqa: ANN001
        done = threading.Event()

        def call() -> None:
            fn()
            done.set()

        self._loop.call_soon_threadsafe(call)
        done.wait(10)

    def cut(self) -> None:
        def drop() -> None:
            self._up = False
            for writer in list(self._pipes):
                writer.transport.abort()
            self._pipes.clear()

        self._run(drop)

    def restore(self) -> None:
        self._run(lambda: setattr(self, "_up", True))

    def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextlib.asynccontextmanager
async def users_table_locked(server):  # noqa: ANN001, ANN201
    """Hold the users table from another database connection, as a slow or busy database
    would; yields a barrier that is true once the server is waiting for the lock."""
    url = server.settings.resolved_database_url
    if url.startswith("sqlite"):
        import sqlite3

        path = url.split(":///", 1)[1]
        holder = sqlite3.connect(path, timeout=30, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the write lock: the server's writers wait
        try:
            # Memory mode: once the sweep took the buffered activity, its write is what waits.
            yield lambda: all(node.app.table_sizes()["activity"] == 0 for node in server.nodes)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    holder, probe = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("LOCK TABLE users IN EXCLUSIVE MODE")

    async def waiting() -> bool:
        return bool(await probe.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"))

    try:
        yield waiting
    finally:
        await transaction.rollback()
        await holder.close()
        await probe.close()
