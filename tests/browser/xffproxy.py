"""A tiny loopback-only reverse proxy that makes each browser context a different person.

Every loopback connection has peer address 127.0.0.1 (Linux picks that source even for
127.0.0.K), so browser contexts can't be told apart by IP. Instead each simulated person gets
their own proxy port; the proxy adds `X-Forwarded-For: <that person's fake IP>` to every
request, and the server trusts 127.0.0.1 as a proxy. WebSocket upgrades are piped through
unchanged after the handshake.
"""

from __future__ import annotations

import asyncio
import contextlib

MAX_HEAD = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class PersonProxy:
    """Listens on 127.0.0.1:<port> and forwards to the server as client IP `fake_ip`."""

    def __init__(self, upstream_port: int, fake_ip: str) -> None:
        self.upstream_port = upstream_port
        self.fake_ip = fake_ip
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self._conns: set[asyncio.StreamWriter] = set()
        # Offline: new connections are closed at once, as if the network were gone.
        self.offline = False

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stops listening and cuts every open connection (a network drop, for tests)."""
        if self.server:
            self.server.close()
        self.drop_connections()

    def drop_connections(self) -> None:
        for w in list(self._conns):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._conns.clear()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.offline:
            client_w.transport.abort()
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.close()
            return
        self._conns.update({client_w, up_w})
        back = asyncio.create_task(_pipe(up_r, client_w))
        try:
            while True:
                head = await client_r.readuntil(b"\r\n\r\n")
                if len(head) > MAX_HEAD:
                    break
                lines = head[:-4].split(b"\r\n")
                kept = [lines[0]]
                length = 0
                upgrade = False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    lname = name.strip().lower()
                    if lname in (b"x-forwarded-for", b"forwarded"):
                        continue  # the browser can't forge these through us
                    if lname == b"content-length":
                        length = int(value.strip() or 0)
                    if lname == b"upgrade":
                        upgrade = True
                    kept.append(line)
                kept.append(b"X-Forwarded-For: " + self.fake_ip.encode())
                up_w.write(b"\r\n".join(kept) + b"\r\n\r\n")
                if length:
                    up_w.write(await client_r.readexactly(length))
                await up_w.drain()
                if upgrade:
                    await _pipe(client_r, up_w)
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                up_w.close()
            await back
            self._conns.discard(client_w)
            self._conns.discard(up_w)
