"""Hostile input on the real-time transport: every case answered (an error or a close), the
server unharmed, nothing delivered that should not be."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest

from publicrooms.clock import FakeClock
from tests.support.clients import SocketClient, new_ip, wait_for
from tests.support.live import advance

ROOM = "/public-room/deep-focus"


async def join(clients, server, name: str) -> tuple[SocketClient, str]:  # noqa: ANN001
    client = await clients(server.url, ROOM).connect()
    ack = await client.call("join-room", {"userName": name})
    assert ack.get("success") is True, ack
    return client, ack["self"]["userId"]


async def test_chat_naming_another_user_is_refused(server, clients) -> None:
    owner, owner_id = await join(clients, server, "Owner")
    thief, thief_id = await join(clients, server, "Thief")
    ack = await thief.call("send-message", {"content": "I am Owner", "userId": owner_id})
    assert ack["error"]["code"] == "INVALID_USER", ack
    # The sender's own id (as the original clients send it) is fine; it is the barrier too:
    # the refused message would have reached Owner before this one.
    ack = await thief.call("send-message", {"content": "hello", "userId": thief_id})
    assert ack["success"], ack
    got = await wait_for(lambda: owner.events["new-message"], "the accepted message")
    assert [m["message"]["content"] for m in got] == ["hello"]
    assert got[0]["message"]["senderId"] == thief_id


class RawSession:
    """An Engine.IO v4 session over a bare WebSocket, to send what no real client would."""

    def __init__(self, server, ip: str) -> None:  # noqa: ANN001
        self.url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ip = ip
        self.received: list[str | bytes] = []
        self.closed = asyncio.Event()

    async def open(self, namespace: str | None = ROOM) -> RawSession:
        connector = aiohttp.TCPConnector(local_addr=(self.ip, 0), force_close=True)
        self._session = aiohttp.ClientSession(connector=connector)
        self.ws = await self._session.ws_connect(self.url, autoping=False, max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        await wait_for(lambda: any(str(m).startswith("0{") for m in self.received), "OPEN")
        if namespace is not None:
            await self.ws.send_str(f"40{namespace},")
            await wait_for(lambda: any(str(m).startswith(f"40{namespace},{{") for m in
                                       self.received), "namespace CONNECT answered")
        return self

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    if msg.data == "2":
                        await self.ws.send_str("3")  # answer Engine.IO pings
                    self.received.append(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    self.received.append(msg.data)
        finally:
            self.closed.set()

    def errors(self) -> list[dict]:
        prefix = f'42{ROOM},["error",'
        return [json.loads(m[len(prefix):-1]) for m in self.received
                if isinstance(m, str) and m.startswith(prefix)]

    async def close(self) -> None:
        await self.ws.close()
        await self._session.close()


async def raw(server, clients_made: list, namespace: str | None = ROOM) -> RawSession:  # noqa: ANN001
    session = await RawSession(server, new_ip()).open(namespace)
    clients_made.append(session)
    return session


@pytest.fixture
async def raw_sessions():  # noqa: ANN201
    made: list[RawSession] = []
    yield made
    for session in made:
        with contextlib.suppress(Exception):
            await session.close()


DEEP = "[" * 10_000 + "]" * 10_000
MALFORMED = {
    "unknown Engine.IO packet type": ["9"],
    "unknown Socket.IO packet type": [f"47{ROOM},[]"],
    "binary frame with nothing pending": [b"\x01\x02\x03"],
    "truncated JSON": [f'42{ROOM},["send-message",{{"content":'],
    "object payload": [f'42{ROOM},{{"content":"hi"}}'],
    "event without a name": [f"42{ROOM},[]"],
    "object as event name": [f'42{ROOM},[{{"a":1}},"x"]'],
    "10,000-deep nesting": [f'42{ROOM},["send-message",{DEEP}]'],
    "1,000,000 attachments announced": [
        f'451000000-{ROOM},["send-message",{{"_placeholder":true,"num":0}}]'],
    "11 attachments announced": [
        f'4511-{ROOM},["send-message",{{"_placeholder":true,"num":0}}]'],
    "attachments past the message cap": [
        f'452-{ROOM},["send-message",{{"_placeholder":true,"num":0}},'
        f'{{"_placeholder":true,"num":1}}]', b"x" * 40_000, b"y" * 40_000],
    "text frame where an attachment is due": [
        f'451-{ROOM},["send-message",{{"_placeholder":true,"num":0}}]', "42[]"],
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_packet_is_answered_and_closed(server, raw_sessions, clients,
                                                       case: str) -> None:
    session = await raw(server, raw_sessions)
    for frame in MALFORMED[case]:
        if isinstance(frame, bytes):
            await session.ws.send_bytes(frame)
        else:
            await session.ws.send_str(frame)
    await asyncio.wait_for(session.closed.wait(), 10)  # the server closes the connection
    if not case.startswith("unknown Engine.IO"):
        # A namespace-connected client is told why first.
        errors = session.errors()
        assert errors and errors[0]["code"] == "INVALID_REQUEST", session.received[-3:]
    # The server is unharmed: a real client joins and chats.
    ana, _ = await join(clients, server, "Ana")
    assert (await ana.call("send-message", {"content": "still fine"}))["success"]


async def test_well_formed_binary_event_is_still_answered(server, raw_sessions) -> None:
    session = await raw(server, raw_sessions)
    await session.ws.send_str(f'451-{ROOM},1["media-blob",{{"_placeholder":true,"num":0}}]')
    await session.ws.send_bytes(b"\x00" * 1000)
    ack = f"43{ROOM},1"
    await wait_for(lambda: any(isinstance(m, str) and m.startswith(ack) for m in
                               session.received), "the binary event's ack")
    assert not session.closed.is_set()


async def test_session_without_a_namespace_is_closed(server_factory, raw_sessions) -> None:
    clock = FakeClock()
    server = server_factory(clock=clock)
    bare = await raw(server, raw_sessions, namespace=None)
    joined = await raw(server, raw_sessions)
    await advance(server, clock, 11)
    await asyncio.wait_for(bare.closed.wait(), 10)
    # The barrier for the other one: it still answers after the bare one was closed.
    await joined.ws.send_str(f'42{ROOM},2["pong"]')
    await wait_for(lambda: any(isinstance(m, str) and m.startswith(f"43{ROOM},2") for m in
                               joined.received), "pong answered")
    assert not joined.closed.is_set()


async def test_slow_request_headers_are_cut_off(server_factory) -> None:
    server = server_factory(header_timeout_s=1.0)
    host, port = "127.0.0.1", server.nodes[0].port
    trickles = []
    for _ in range(20):  # slowloris: requests whose headers never end
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /api/public/rooms HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        await writer.drain()
        trickles.append((reader, writer))
    silent = await asyncio.open_connection(host, port)  # connects and says nothing
    for reader, writer in [*trickles, silent]:
        # EOF from the server: the connection was closed on it (not left open for 30 s).
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
    # A prompt request on the same server is served.
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 200")
    writer.close()


async def test_bare_engineio_sessions_count_against_the_address(server, raw_sessions,
                                                                 clients) -> None:
    ip = new_ip()
    for _ in range(2):  # two sessions that never join a namespace take the address's two slots
        raw_sessions.append(await RawSession(server, ip).open(namespace=None))
    third = await RawSession(server, ip).open(namespace=None)
    raw_sessions.append(third)
    late = await clients(server.url, ROOM, ip).connect(expect_refusal=True)
    refused = await late.admission()
    assert refused is not None and refused["code"] == "TOO_MANY_CONNECTIONS", refused
    # The third bare session was refused too: its namespace hears why, then it is closed.
    await third.ws.send_str(f"40{ROOM},")
    await asyncio.wait_for(third.closed.wait(), 10)
    assert any(isinstance(m, str) and "TOO_MANY_CONNECTIONS" in m for m in third.received)
    # Another address is unaffected.
    other = await clients(server.url, ROOM).connect()
    assert await other.admission() is None
