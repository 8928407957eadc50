"""A loopback TCP proxy that can turn into a network blackhole: it stops forwarding both ways
and keeps both connections open, so neither end sees a FIN or a RST."""

from __future__ import annotations

import asyncio
import contextlib


class BlackholeProxy:
    """Listens on 127.0.0.1:<port>; forwards to the upstream port from `source_ip`."""

    def __init__(self, upstream_port: int, source_ip: str) -> None:
        self.upstream_port = upstream_port
        self.source_ip = source_ip
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> BlackholeProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def blackhole(self) -> None:
        """From now on nothing is forwarded, either way, and nothing is closed."""
        self._flowing.clear()

    async def _handle(self, client_r: asyncio.StreamReader,
                      client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port,
                                                   local_addr=(self.source_ip, 0))
        self._writers.update({client_w, up_w})
        pipes = [asyncio.create_task(self._pipe(client_r, up_w)),
                 asyncio.create_task(self._pipe(up_r, client_w))]
        self._tasks.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                await self._flowing.wait()
                data = await reader.read(65536)
                await self._flowing.wait()   # read before the blackhole: dropped
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        for writer in self._writers:
            with contextlib.suppress(Exception):
                writer.transport.abort()
