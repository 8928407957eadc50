"""ICE over TCP (RFC 6544, passive candidates) beside a worker's shared UDP port.

Networks that block UDP still let a browser open a TCP connection to the worker's port. Each
accepted stream carries the same datagrams ICE would send over UDP (STUN checks, DTLS, SRTP),
each prefixed by its 2-byte length (RFC 4571 framing). A stream belongs to no one until its
first frame is a STUN binding request that the owner of its ICE username authenticates (the
`authenticate` callback, which lives with the rest of the ICE plumbing in aiortc_adapter);
from then on it behaves like one more UDP socket of that connection: `sendto` frames and
writes, received frames go to the connection's protocol.

Everything a stranger can make the worker hold is bounded: frame size, bytes waiting to be
written per stream (beyond it frames are dropped, as a full UDP socket would), streams that
have not authenticated yet, time to authenticate, and idle time. Bad input closes the stream
it came on and nothing else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import struct
from typing import Any, Callable

from aioice import stun

from ..clock import Clock

logger = logging.getLogger(__name__)

FrameHandler = Callable[[bytes, Any], None]
LostHandler = Callable[[Exception | None], None]
# authenticate(first frame, stream) -> whether the stream now belongs to a connection
Authenticate = Callable[[bytes, "FramedStream"], bool]

_HEADER = struct.Struct("!H")


@dataclasses.dataclass(frozen=True)
class IceTcpLimits:
    """Bounds for one listener (MediaSettings.ice_tcp_*)."""

    max_frame_bytes: int = 8192
    max_buffered_bytes: int = 256 * 1024
    max_pending: int = 64
    auth_timeout_s: float = 5.0
    idle_timeout_s: float = 30.0
    max_streams_per_connection: int = 8

    @classmethod
    def from_settings(cls, media: Any) -> "IceTcpLimits":
        return cls(
            max_frame_bytes=media.ice_tcp_max_frame_bytes,
            max_buffered_bytes=media.ice_tcp_max_buffered_bytes,
            max_pending=media.ice_tcp_max_pending,
            auth_timeout_s=media.ice_tcp_auth_timeout_s,
            idle_timeout_s=media.ice_tcp_idle_timeout_s,
            max_streams_per_connection=media.ice_tcp_max_streams_per_connection,
        )


class FramedStream(asyncio.Protocol):
    """One accepted TCP stream, seen by ICE as a datagram transport to a single peer."""

    def __init__(self, listener: "IceTcpListener") -> None:
        self._listener = listener
        self.limits = listener.limits
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._on_frame: FrameHandler | None = None
        self._on_lost: LostHandler | None = None
        self._closing = False
        self._lost = False
        self.peer: tuple[str, int] = ("", 0)
        self.sockname: tuple[str, int] = listener.sockname
        self.opened_at = self.last_frame_at = listener.clock.monotonic()
        self.dropped = 0

    @property
    def authenticated(self) -> bool:
        return self._on_frame is not None

    def attach(self, on_frame: FrameHandler, on_lost: LostHandler) -> None:
        """Hand every later frame to `on_frame(data, peer)`, and the stream's end to `on_lost`."""
        self._on_frame, self._on_lost = on_frame, on_lost
        self._listener.authenticated(self)

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        if not self._listener.admit(self):
            self.close()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        buffer = self._buffer
        buffer += data
        limit = self._listener.limits.max_frame_bytes
        offset = 0
        while len(buffer) - offset >= 2:
            (size,) = _HEADER.unpack_from(buffer, offset)
            if size == 0 or size > limit:
                self._refuse(f"frame of {size} bytes")
                return
            if len(buffer) - offset - 2 < size:
                break
            frame = bytes(buffer[offset + 2 : offset + 2 + size])
            offset += 2 + size
            self._frame(frame)
            if self._closing:
                return
        del buffer[:offset]

    def _frame(self, frame: bytes) -> None:
        self.last_frame_at = self._listener.clock.monotonic()
        if self._on_frame is not None:
            self._on_frame(frame, self.peer)
            return
        try:
            accepted = self._listener.authenticate(frame, self)
        except Exception:  # a malformed first frame must not reach the event loop
            logger.exception("ICE-TCP authentication failed on a stream from %s", self.peer)
            accepted = False
        if not accepted:
            self._refuse("first frame is not an authenticated ICE check")

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._buffer.clear()
        self._listener.forget(self)
        if not self._lost:
            self._lost = True
            if self._on_lost is not None:
                self._on_lost(exc)

    def _refuse(self, why: str) -> None:
        self._listener.refused += 1
        logger.debug("ICE-TCP stream from %s closed: %s", self.peer, why)
        self.abort()

    # --- what ICE sees: a datagram transport ------------------------------------------

    def sendto(self, data: bytes, addr: Any = None) -> None:
        transport = self._transport
        if self._closing or transport is None or len(data) > 0xFFFF:
            return
        if transport.get_write_buffer_size() + len(data) > self._listener.limits.max_buffered_bytes:
            self.dropped += 1  # a slow reader loses datagrams, as over UDP, instead of growing memory
            return
        transport.write(frame(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        # no "socket": senders that write straight to a UDP socket must not use this one
        if name == "sockname":
            return self.sockname
        if name == "peername":
            return self.peer
        return default

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._shut(abort=False)

    def abort(self) -> None:
        self._shut(abort=True)

    def _shut(self, abort: bool) -> None:
        if self._closing:
            return
        self._closing = True
        if self._transport is None:
            self.connection_lost(None)
        elif abort:
            self._transport.abort()  # connection_lost follows from the event loop
        else:
            self._transport.close()


class IceTcpListener:
    """The passive TCP side of a worker's port: accepts streams and enforces IceTcpLimits."""

    def __init__(self, sock: socket.socket, limits: IceTcpLimits, authenticate: Authenticate,
                 clock: Clock | None = None) -> None:
        self.sock = sock
        self.sockname = sock.getsockname()[:2]
        self.limits = limits
        self.authenticate = authenticate
        self.clock = clock or Clock()
        self._pending: set[FramedStream] = set()
        self._streams: set[FramedStream] = set()
        self._server: asyncio.AbstractServer | None = None
        self.sweeper: asyncio.Task[None] | None = None
        self._admitted = asyncio.Event()  # the sweep sleeps on this while there are no streams
        self.refused = 0
        self.timed_out = 0

    @classmethod
    async def open(cls, address: str, port: int, limits: IceTcpLimits, authenticate: Authenticate,
                   clock: Clock | None = None) -> "IceTcpListener":
        """Listen on (address, port); raises OSError when the port is taken."""
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart despite TIME_WAIT
            sock.bind((address, port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        listener = cls(sock, limits, authenticate, clock)
        loop = asyncio.get_running_loop()
        listener._server = await loop.create_server(lambda: FramedStream(listener), sock=sock)
        listener.sweeper = asyncio.ensure_future(listener._sweep_loop())
        return listener

    @property
    def port(self) -> int:
        return int(self.sockname[1])

    def counts(self) -> tuple[int, int]:
        """(streams waiting to authenticate, authenticated streams)."""
        return len(self._pending), len(self._streams)

    def admit(self, stream: FramedStream) -> bool:
        if len(self._pending) >= self.limits.max_pending:
            self.refused += 1
            return False
        self._pending.add(stream)
        self._admitted.set()
        return True

    def authenticated(self, stream: FramedStream) -> None:
        self._pending.discard(stream)
        self._streams.add(stream)

    def forget(self, stream: FramedStream) -> None:
        self._pending.discard(stream)
        self._streams.discard(stream)

    async def _sweep_loop(self) -> None:
        interval = min(self.limits.auth_timeout_s, self.limits.idle_timeout_s) / 4
        while True:
            if not self._pending and not self._streams:  # most workers never see ICE-TCP: no timer
                self._admitted.clear()
                await self._admitted.wait()
            await self.clock.sleep(interval)
            self.sweep()

    def sweep(self) -> None:
        """Close streams that did not authenticate in time, or went quiet (no consent checks)."""
        now = self.clock.monotonic()
        late = [s for s in self._pending if now - s.opened_at >= self.limits.auth_timeout_s]
        late += [s for s in self._streams if now - s.last_frame_at >= self.limits.idle_timeout_s]
        for stream in late:
            self.timed_out += 1
            stream.abort()

    def close(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
            self.sweeper = None
        if self._server is not None:
            self._server.close()
            self._server = None
        for stream in list(self._pending | self._streams):
            stream.abort()


async def probe(port: int, local: tuple[str, str], remote: tuple[str, str], host: str = "127.0.0.1",
                timeout_s: float = 5.0, controlling: bool = True) -> bool:
    """Act as a browser's active ICE-TCP side once: whether the server answers its check.

    `local` and `remote` are (ufrag, password) pairs as the server's peer knows them, and
    `controlling` its ICE role (the side that offered controls). True once the server has
    answered the check and checked back over the stream (answered, as a browser would). For
    the start-up self-test and the tests.
    """
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.attributes.update({"USERNAME": f"{remote[0]}:{local[0]}", "PRIORITY": 1 << 24})
    if controlling:  # and nominating, as a browser that offered does
        request.attributes.update({"ICE-CONTROLLING": 1, "USE-CANDIDATE": None})
    else:
        request.attributes["ICE-CONTROLLED"] = 0
    request.add_message_integrity(remote[1].encode("utf8"))
    reader, writer = await asyncio.open_connection(host, port)
    answered, checked_back = False, False
    try:
        writer.write(frame(bytes(request)))
        async with asyncio.timeout(timeout_s):
            while not (answered and checked_back):
                (size,) = _HEADER.unpack(await reader.readexactly(2))
                message = stun.parse_message(await reader.readexactly(size))
                if message.message_class == stun.Class.REQUEST:  # the server's own check
                    response = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.RESPONSE,
                                            transaction_id=message.transaction_id)
                    response.attributes["XOR-MAPPED-ADDRESS"] = writer.get_extra_info("sockname")[:2]
                    response.add_message_integrity(local[1].encode("utf8"))
                    writer.write(frame(bytes(response)))
                    checked_back = True
                elif message.transaction_id == request.transaction_id:
                    if message.message_class != stun.Class.RESPONSE or \
                            not message.check_message_integrity(remote[1].encode("utf8")):
                        return False
                    answered = True
        await writer.drain()
        return True
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
        return False
    finally:
        writer.close()


def frame(data: bytes) -> bytes:
    """One RFC 4571 frame."""
    return _HEADER.pack(len(data)) + data
