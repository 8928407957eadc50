"""A WebSocket client that reads only when told: a tiny receive buffer, and no reads at all
once it has stopped, as a stalled phone or a stuck browser tab would be."""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (AcceptConnection, CloseConnection, Message, Ping, Pong, Request,
                            TextMessage)

RCVBUF_BYTES = 4096


class StalledReader:
    """Engine.IO v4 over a raw socket (wsproto framing); answers pings only while reading."""

    def __init__(self, base_url: str, ip: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port, self.ip = parts.hostname, parts.port, ip
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.texts: list[str] = []
        self._partial: list[str] = []
        self.pongs: list[bytes] = []  # payloads of the server's WebSocket pongs
        self.sock: socket.socket | None = None

    async def open(self) -> StalledReader:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Set before connecting so the advertised window stays small.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        sock.bind((self.ip, 0))
        sock.setblocking(False)
        await loop.sock_connect(sock, (self.host, self.port))
        self.sock = sock
        await self._send(Request(host=f"{self.host}:{self.port}",
                                 target="/socket.io/?EIO=4&transport=websocket"))
        await self.read_until(lambda: self.texts and self.texts[0].startswith("0{"), "OPEN")
        return self

    async def _send(self, event) -> None:  # noqa: ANN001
        await asyncio.get_running_loop().sock_sendall(self.sock, self.ws.send(event))

    async def send_text(self, text: str) -> None:
        await self._send(Message(data=text))

    async def read_until(self, done, what: str, timeout_s: float = 10) -> None:  # noqa: ANN001
        """Read (answering pings) until `done()`; fails if the server closes first."""
        async def loop() -> None:
            while not done():
                data = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
                if not data:
                    raise AssertionError(f"connection closed before {what}")
                self.ws.receive_data(data)
                for event in self.ws.events():
                    await self._on(event)

        await asyncio.wait_for(loop(), timeout_s)

    async def _on(self, event) -> None:  # noqa: ANN001
        if isinstance(event, AcceptConnection):
            return
        if isinstance(event, Ping):
            await self._send(event.response())
        elif isinstance(event, Pong):
            self.pongs.append(bytes(event.payload))
        elif isinstance(event, TextMessage):
            self._partial.append(event.data)
            if event.message_finished:
                text = "".join(self._partial)
                self._partial.clear()
                if text == "2":
                    await self.send_text("3")  # Engine.IO ping → pong
                self.texts.append(text)
        elif isinstance(event, CloseConnection):
            raise AssertionError(f"server closed the WebSocket ({event.code})")

    async def join_room(self, namespace: str, name: str) -> dict:
        """Connect the namespace and take a seat; returns the join acknowledgement."""
        await self.send_text(f"40{namespace},")
        await self.read_until(lambda: any(t.startswith(f"40{namespace},{{") for t in self.texts),
                              "namespace CONNECT answered")
        await self.send_text(f'42{namespace},1["join-room",{json.dumps({"userName": name})}]')
        prefix = f"43{namespace},1"
        await self.read_until(lambda: any(t.startswith(prefix) for t in self.texts),
                              "join-room acknowledged")
        ack = next(t for t in self.texts if t.startswith(prefix))
        return json.loads(ack[len(prefix):])[0]

    async def dropped(self, timeout_s: float = 10) -> bool:
        """Read what is buffered until the server ends the connection (reset or EOF)."""
        loop = asyncio.get_running_loop()

        async def until_end() -> bool:
            while True:
                try:
                    data = await loop.sock_recv(self.sock, 1 << 20)
                except ConnectionResetError:
                    return True
                if not data:
                    return True

        return await asyncio.wait_for(until_end(), timeout_s)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
