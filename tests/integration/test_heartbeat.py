"""The Engine.IO heartbeat of a WebSocket session (realtime/engineio_adapter.py): a ping every
interval from a timer (no task per socket), a client that stops answering closed once the
ping timeout has passed, and an idle socket holding no task of its own."""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlsplit

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, Request, TextMessage

from publicrooms.settings import CleanupSettings
from tests.support.clients import new_ip, wait_for

INTERVAL_S, TIMEOUT_S = 0.4, 1.0
HEARTBEAT = CleanupSettings(engineio_ping_interval_s=INTERVAL_S,
                            engineio_ping_timeout_s=TIMEOUT_S)


class WireClient:
    """Engine.IO v4 over a raw WebSocket; answers pings only while `answering`."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.texts: list[str] = []
        self.pings: list[float] = []       # when each ping arrived
        self.answering = True
        self.closed_at: float | None = None  # when the server closed the WebSocket
        self.sock: socket.socket | None = None
        self._reader: asyncio.Task | None = None

    async def open(self) -> WireClient:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((new_ip(), 0))
        sock.setblocking(False)
        await loop.sock_connect(sock, (self.host, self.port))
        self.sock = sock
        await self._send(Request(host=f"{self.host}:{self.port}",
                                 target="/socket.io/?EIO=4&transport=websocket"))
        self._reader = asyncio.ensure_future(self._read())
        await wait_for(lambda: self.texts and self.texts[0].startswith("0{"), "OPEN")
        await self._send(Message(data="40"))
        await wait_for(lambda: any(t.startswith("40{") for t in self.texts),
                       "lobby namespace connected")
        return self

    async def _send(self, event) -> None:  # noqa: ANN001
        await asyncio.get_running_loop().sock_sendall(self.sock, self.ws.send(event))

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while self.closed_at is None:
            try:
                data = await loop.sock_recv(self.sock, 65536)
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed_at = self.closed_at or time.monotonic()
                return
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, TextMessage):
                    self.texts.append(event.data)
                    if event.data == "2":
                        self.pings.append(time.monotonic())
                        if self.answering:
                            await self._send(Message(data="3"))
                elif isinstance(event, CloseConnection):
                    self.closed_at = time.monotonic()
                elif not isinstance(event, AcceptConnection):
                    pass

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.sock is not None:
            self.sock.close()


async def open_sessions(server) -> int:  # noqa: ANN001
    return await server.query(lambda app: _count(app))


async def _count(app) -> int:  # noqa: ANN001
    return len(app.sio.session_ids())


@pytest.mark.single_node
async def test_a_client_that_answers_pings_stays_connected(server_factory) -> None:
    server = server_factory(cleanup=HEARTBEAT)
    client = await WireClient(server.url).open()
    try:
        # Well past interval + timeout: every ping answered, the session stays.
        await wait_for(lambda: len(client.pings) >= 6, "six pings", timeout_s=20)
        assert client.closed_at is None
        gaps = [b - a for a, b in zip(client.pings, client.pings[1:])]
        assert min(gaps) >= INTERVAL_S * 0.8, gaps  # one ping per interval, not more
        assert await open_sessions(server) == 1
    finally:
        client.close()


@pytest.mark.single_node
async def test_a_client_that_stops_answering_pings_is_closed_after_the_ping_timeout(
        server_factory) -> None:
    server = server_factory(cleanup=HEARTBEAT)
    client = await WireClient(server.url).open()
    try:
        await wait_for(lambda: len(client.pings) >= 2, "two answered pings", timeout_s=10)
        client.answering = False
        unanswered = len(client.pings)
        await wait_for(lambda: len(client.pings) > unanswered, "an unanswered ping")
        pinged_at = client.pings[unanswered]
        await wait_for(lambda: client.closed_at is not None, "the server closes the WebSocket",
                       timeout_s=TIMEOUT_S + 10)
        waited = client.closed_at - pinged_at
        assert TIMEOUT_S * 0.9 <= waited <= TIMEOUT_S + 3, waited
        assert len(client.pings) == unanswered + 1  # no ping after the unanswered one
        await wait_for(lambda: _zero(server), "the session is gone from the server")
    finally:
        client.close()


async def _zero(server) -> bool:  # noqa: ANN001
    return await open_sessions(server) == 0


@pytest.mark.single_node
async def test_an_idle_websocket_has_no_task_but_its_connection_s(server_factory) -> None:
    """Each idle WebSocket session runs in uvicorn's connection task only: no writer task, no
    ping task, no read task per message, no finished namespace deadline kept."""
    server = server_factory(cleanup=CleanupSettings(engineio_ping_interval_s=600,
                                                    engineio_ping_timeout_s=600,
                                                    namespace_connect_timeout_s=0.5))

    per_socket = {"AsyncSocket._send_ping", "AsyncSocket._websocket_handler.<locals>.writer",
                  "AsyncSocket._websocket_handler.<locals>.websocket_wait",
                  "StrictSocket._write_queued", "StrictServer._namespace_deadline"}

    def names() -> list[str]:
        return [task.get_coro().__qualname__ for task in asyncio.all_tasks()]

    async def tasks(app) -> int:  # noqa: ANN001, ARG001
        return len(asyncio.all_tasks())

    before = await server.query(tasks)
    sockets = [await WireClient(server.url).open() for _ in range(20)]
    try:
        async def state(app) -> tuple:  # noqa: ANN001
            sockets = [s for s in app.sio.eio.sockets.values() if not s.closed]
            return (len(sockets), sum(s._writer is not None for s in sockets),
                    sum(s._ping_timer is not None for s in sockets),
                    len(app.sio._deadlines), len(asyncio.all_tasks()),
                    [name for name in names() if name in per_socket],
                    names().count("WebSocketsSansIOProtocol.run_asgi"))

        async def settled() -> tuple | None:
            now = await server.query(state)
            return now if now[1] == 0 and now[3] == 0 else None

        count, writers, timers, deadlines, after, theirs, connections = await wait_for(
            settled, "writers idle and deadlines run", timeout_s=10)
        assert (count, writers, timers, deadlines) == (20, 0, 20, 0)
        assert theirs == [] and connections == 20
        assert after - before <= 20 + 2, (before, after)  # (a background job may be running)
    finally:
        for client in sockets:
            client.close()


@pytest.mark.single_node
async def test_a_namespace_ends_the_session_s_deadline_and_leaving_the_last_one_restarts_it(
        server_factory) -> None:
    """Once a session has connected a namespace it holds no deadline task (an idle lobby
    viewer costs no task from its first second); a client that then leaves its last namespace
    but keeps the session is closed when the deadline runs out."""
    server = server_factory(cleanup=CleanupSettings(namespace_connect_timeout_s=1.0))

    async def deadlines(app) -> int:  # noqa: ANN001
        return len(app.sio._deadlines)

    before = await server.query(deadlines)
    clients = [await WireClient(server.url).open() for _ in range(5)]  # each connected "/"
    try:
        assert await server.query(deadlines) == before  # none left running for them
        leaver = clients[0]
        await leaver._send(Message(data="41"))  # DISCONNECT from "/", the session stays
        await wait_for(lambda: leaver.closed_at is not None,
                       "the session without a namespace was closed", timeout_s=10)
        assert all(c.closed_at is None for c in clients[1:])
    finally:
        for client in clients:
            client.close()


@pytest.mark.single_node
async def test_a_pong_deadline_due_as_its_socket_closes_ends_quietly(server_factory) -> None:
    """The deadline's check starts in a task; the socket closes before that task runs (the
    client left, the server stops): the check ends without an error nobody would retrieve."""
    server = server_factory(cleanup=HEARTBEAT)
    client = await WireClient(server.url).open()
    try:
        async def race(app):  # noqa: ANN001, ANN202
            eio = app.sio.eio
            socket = next(iter(eio.sockets.values()))
            started = []
            start = eio.start_background_task
            eio.start_background_task = lambda fn, *a, **kw: started.append(
                start(fn, *a, **kw)) or started[-1]
            try:
                socket.last_ping = time.time() - 60  # a ping left unanswered long ago
                socket._pong_due()
                await socket.close(wait=False, abort=True)
                results = await asyncio.gather(*started, return_exceptions=True)
            finally:
                del eio.start_background_task
            return [repr(r) for r in results]

        assert await server.query(race) == ["None"]
    finally:
        client.close()


def _await_chain(task: asyncio.Task) -> list[str]:
    """The qualified names of the coroutines a task is suspended in, outermost first."""
    chain, coro = [], task.get_coro()
    while coro is not None and hasattr(coro, "cr_code"):
        chain.append(f"{coro.cr_frame.f_globals['__name__']}.{coro.__qualname__}")
        coro = coro.cr_await
    return chain


@pytest.mark.single_node
async def test_an_idle_websocket_holds_no_keepalive_timer_attribute_dict_or_http_layer(
        server_factory) -> None:
    """What each connected WebSocket keeps: no WebSocket-level keepalive timer (the Engine.IO
    heartbeat is the one), its protocol's attributes in slots, and a connection task that waits
    in Engine.IO's handler with none of the HTTP middleware or python-socketio's entry point
    suspended above it."""
    server = server_factory()
    clients = [await WireClient(server.url).open() for _ in range(3)]
    try:
        async def held(app) -> list:  # noqa: ANN001
            sockets = [s for s in app.sio.eio.sockets.values() if not s.closed]
            chains = [_await_chain(task) for task in asyncio.all_tasks()
                      if task.get_coro().__qualname__ == "WebSocketsSansIOProtocol.run_asgi"]
            return [[(s.websocket.ping_timer, s.websocket.pong_timer, vars(s.websocket))
                     for s in sockets], chains]

        protocols, chains = await server.query(held)
        assert protocols == [(None, None, {})] * 3
        assert len(chains) == 3
        for chain in chains:
            assert chain[:3] == [
                "uvicorn.protocols.websockets.websockets_sansio_impl."
                "WebSocketsSansIOProtocol.run_asgi",
                "publicrooms.web.WebSocketsFirst.websocket",
                "engineio.async_server.AsyncServer.handle_request"], chain
            assert "publicrooms.realtime.engineio_adapter.StrictSocket._websocket_handler" \
                in chain
    finally:
        for client in clients:
            client.close()
