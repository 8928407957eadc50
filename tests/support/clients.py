"""Clients that reach the server from a chosen loopback address, as distinct people would."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import socketio

_next_host = itertools.count(2)


def new_ip() -> str:
    """A fresh loopback address (127.0.x.y), one per simulated person."""
    n = next(_next_host)
    return f"127.0.{(n // 250) % 250}.{n % 250 + 2}"


def http_client(base_url: str, ip: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=ip)
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=20)


class SocketClient:
    """A socket.io AsyncClient bound to one source address that records every event."""

    def __init__(self, base_url: str, ip: str, namespace: str = "/") -> None:
        self.base_url = base_url
        self.ip = ip
        self.namespace = namespace
        self.session: aiohttp.ClientSession | None = None
        self.sio: socketio.AsyncClient | None = None
        self.events: dict[str, list[Any]] = defaultdict(list)
        self.log: list[tuple[str, Any]] = []  # every event in arrival order
        self.connect_error: Any = None
        self.gone = asyncio.Event()  # set when the namespace disconnects

    async def connect(self, transports: list[str] | None = None, *,
                      expect_refusal: bool = False, **kwargs: Any) -> SocketClient:
        connector = aiohttp.TCPConnector(local_addr=(self.ip, 0), force_close=True)
        self.session = aiohttp.ClientSession(connector=connector)
        self.sio = socketio.AsyncClient(http_session=self.session, reconnection=False,
                                        request_timeout=10, **kwargs)

        @self.sio.on("*", namespace=self.namespace)
        async def any_event(event: str, *args: Any) -> None:
            self.events[event].append(args[0] if len(args) == 1 else list(args))
            self.log.append((event, self.events[event][-1]))

        @self.sio.on("connect_error", namespace=self.namespace)
        async def on_connect_error(data: Any) -> None:
            self.connect_error = data

        @self.sio.on("disconnect", namespace=self.namespace)
        async def on_disconnect(*args: Any) -> None:
            self.gone.set()

        try:
            await self.sio.connect(self.base_url, namespaces=[self.namespace],
                                   transports=transports or ["websocket"], wait_timeout=10)
        except socketio.exceptions.ConnectionError:
            if not expect_refusal:
                raise
        return self

    async def admission(self) -> dict | None:
        """None when the server admitted this socket, else its `connection-rejected` payload.

        Decided on a positive signal either way: the refusal event, or an answered `pong`
        (a refused socket never gets a successful answer).
        """
        async def outcome() -> object:
            if self.events["connection-rejected"]:
                return "refused"
            if self.connected:
                try:
                    ack = await self.call("pong", timeout_s=2)
                except Exception:  # noqa: BLE001 - disconnected meanwhile: refused
                    ack = None
                if isinstance(ack, dict) and ack.get("success"):
                    return "admitted"
            return None

        result = await wait_for(outcome, "the server admits or refuses the socket")
        if result == "refused":
            return self.events["connection-rejected"][0]
        return None

    async def call(self, event: str, data: Any = None, timeout_s: float = 10) -> Any:
        assert self.sio is not None
        return await self.sio.call(event, data, namespace=self.namespace, timeout=timeout_s)

    async def call_while_connected(self, event: str, data: Any = None, timeout_s: float = 10) -> Any:
        """`call`, given up when the socket disconnects first (as an app using socket.io-client
        stops waiting for an acknowledgement then): python-socketio's own call waits out its
        timeout, which a node going away mid-call turns into a needless wait."""
        assert self.sio is not None
        ack = asyncio.ensure_future(self.sio.call(event, data, namespace=self.namespace, timeout=timeout_s))
        gone = asyncio.ensure_future(self.gone.wait())
        try:
            await asyncio.wait({ack, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not ack.done():
            ack.cancel()
            raise socketio.exceptions.DisconnectedError(f"disconnected before {event} was acknowledged")
        return ack.result()

    async def emit(self, event: str, data: Any = None) -> None:
        assert self.sio is not None
        await self.sio.emit(event, data, namespace=self.namespace)

    async def drop(self) -> None:
        """Vanish without a goodbye: abort the TCP connection under the socket."""
        assert self.sio is not None and self.session is not None
        ws = getattr(self.sio.eio, "ws", None)
        if ws is not None and not ws.closed:
            ws._response.connection.transport.abort()
        await self.session.close()

    @property
    def connected(self) -> bool:
        return bool(self.sio and self.sio.connected and self.namespace in self.sio.namespaces)

    async def close(self) -> None:
        """Disconnect cleanly, as socket.io-client's disconnect() does: DISCONNECT, then close."""
        if self.sio is not None:
            try:
                if self.connected:
                    # python-socketio's own disconnect() may close the transport before the
                    # DISCONNECT packet is written; send it and let the queue drain first.
                    await self.sio._send_packet(self.sio.packet_class(
                        socketio.packet.DISCONNECT, namespace=self.namespace))
                    await asyncio.wait_for(self.sio.eio.queue.join(), 2)
            except (Exception, asyncio.TimeoutError):
                pass
            try:
                # A polling client waits for its open long-poll to end; don't wait on it.
                await asyncio.wait_for(self.sio.disconnect(), 1)
            except (Exception, asyncio.TimeoutError):
                pass
        if self.session is not None:
            await self.session.close()


async def connect_once_admitted(make: Callable[[], SocketClient], message: str) -> SocketClient:
    """Connect until the server admits the socket, closing each refused one.

    After a client closes, the server releases its connection slot on its own time (the
    close is handled asynchronously, on whichever node held it), so a connection opened
    right after may still count the old one.
    """
    async def admitted() -> SocketClient | None:
        client = await make().connect(expect_refusal=True)
        if await client.admission() is None:
            return client
        await client.close()
        return None

    return await wait_for(admitted, message, interval_s=0.2)


async def wait_for(condition: Callable[[], Any | Awaitable[Any]], message: str,
                   timeout_s: float = 10, interval_s: float = 0.02) -> Any:
    """Poll until `condition()` is truthy; fail with `message` if it never is."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for: {message}")
