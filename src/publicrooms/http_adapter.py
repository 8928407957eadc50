"""uvicorn's HTTP protocol with a deadline on request headers (slowloris).

uvicorn closes idle keep-alive connections, but a connection that is trickling the headers of
a request (or sends nothing at all after connecting) is held open for as long as the client
likes. Here every request must finish its headers within `header_timeout_s` of its first byte
(or of the connection opening); otherwise the connection is closed.

A WebSocket whose client stopped reading cannot be closed through ASGI: a close frame waits
behind the full buffer, and so does uvicorn's graceful close. `connection_aborter` finds the
uvicorn protocol behind an ASGI `send` and returns its transport's `abort`.

An idle WebSocket should hold little: `LeanWebSocketProtocol` (uvicorn's websockets-sansio
protocol) keeps its receive queue and writable flag in `publicrooms.lean`'s containers and
lets the handshake's request and response go once the WebSocket is accepted. It also reads a
client's ordinary text frames itself (`read_text_frames`), without websockets' generic parser.

This is the one place that touches uvicorn internals (`HttpToolsProtocol` and its httptools
callbacks `on_message_begin` / `on_headers_complete`; the WebSocket protocols' bound `send`
and `transport`; `WebSocketsSansIOProtocol`'s `queue`, `writable`, `request`, `response`,
`handshake_complete`, `read_paused`, `close_sent`, `data_received` and the messages it queues)
and websockets' protocol state (`reader.buffer`, `current_size`, `expect_continuation_frame`,
`parser_exc`, `max_message_size`, `extensions`); `self_test()` runs at start-up.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import apply_mask
from websockets.protocol import State

from publicrooms.lean import LeanEvent, LeanQueue

log = structlog.get_logger("publicrooms.http")


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that closes a connection whose request headers take too long."""

    header_timeout_s = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            log.info("connection closed", reason="request headers unfinished",
                     timeout_s=self.header_timeout_s)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # Between requests uvicorn's keep-alive timeout applies; a new request re-arms this.
        self._disarm()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()


# Every attribute uvicorn's websockets-sansio protocol sets on itself (checked by self_test).
_WEBSOCKET_ATTRIBUTES = (
    "app", "app_state", "asgi_version", "client", "close_sent", "close_timeout", "close_timer",
    "config", "conn", "connections", "curr_msg_data_type", "default_headers", "disconnected",
    "frames", "handshake_complete", "handshake_initiated", "initial_response", "last_ping_rtt",
    "logger", "loop", "pending_ping_payload", "ping_interval", "ping_sent_at", "ping_timeout",
    "ping_timer", "pong_timer", "queue", "read_paused", "request", "response", "root_path",
    "scheme", "scope", "server", "tasks", "transport", "writable")


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol holding less for as long as a connection lasts:
    its receive queue and writable flag are LeanQueue / LeanEvent (~3.8 kB less), the
    handshake's parsed request and response (headers and all, ~3.7 kB) are let go once the
    WebSocket is accepted (uvicorn reads them only to answer the handshake), and its
    attributes live in slots (8 bytes each) instead of an instance dict of 38 keys (~1.6 kB).

    Frames may also be written to its transport directly (realtime/fanout_adapter.py), held
    for one turn in `corked`: whatever the application sends through the protocol first lets
    those go, so the connection's order holds."""

    __slots__ = (*_WEBSOCKET_ATTRIBUTES, "corked", "_direct", "_partial")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.corked: Any = None  # the fan-out's Cork, once a socket writes through it
        self._direct: bool | None = None  # text frames read here (None: not decided yet)
        self._partial = b""  # the start of a frame read here, waiting for the rest
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = LeanEvent()  # type: ignore[assignment]
        self.writable.set()

    # --- reading: a client's text frames without websockets' generic parser ---------------
    # Once the handshake is done (no extension, websockets' parser between frames), the frames
    # a client sends in the ordinary case (final, masked, text, under 64 KiB and the size
    # limit, valid UTF-8) are read here and queued for the application as uvicorn queues them.
    # The first frame of any other kind (ping, close, binary, a fragment, bad UTF-8, too big)
    # and everything after it go to websockets for good, which answers it as it always did.
    # Reading pauses while messages wait unread, past `READ_AHEAD` of them (uvicorn pauses
    # after each one: two more system calls per message).

    READ_AHEAD = 16
    direct_frames = 0  # frames read here, on every connection of the process

    def data_received(self, data: bytes) -> None:
        direct = self._direct
        if direct is None and self.handshake_complete:
            direct = self._direct = self._can_read_directly()
        if not direct:
            super().data_received(data)
            return
        if self._partial:
            data, self._partial = self._partial + data, b""
        texts, used, done = read_text_frames(data, self.conn.max_message_size)
        LeanWebSocketProtocol.direct_frames += len(texts)
        if not self.close_sent:  # past `websocket.close`, as uvicorn: read on, deliver nothing
            for text in texts:
                self.queue.put_nowait({"type": "websocket.receive", "text": text})
        if done:
            self._partial = data[used:]
        else:
            self._direct = False
            super().data_received(data[used:])
            return
        if not self.read_paused and self.queue.qsize() >= self.READ_AHEAD:
            self.read_paused = True
            self.transport.pause_reading()

    def _can_read_directly(self) -> bool:
        conn = self.conn
        return (conn.state is State.OPEN and not conn.extensions and not conn.reader.buffer
                and conn.current_size is None and not conn.expect_continuation_frame
                and conn.parser_exc is None and not self.close_sent
                and isinstance(conn.max_message_size, int))

    async def send(self, message: Any) -> None:
        if self.corked is not None:
            self.corked.release(self.transport)
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            # websockets' parser keeps the request it parsed for the connection's lifetime
            # (a local of its generator): its headers are emptied (uvicorn copied them into
            # the ASGI scope before the application ran).
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]


def read_text_frames(data: bytes, max_size: int) -> tuple[list[str], int, bool]:
    """The texts of the whole frames at the start of `data` that are final, masked,
    unextended text frames of at most `max_size` (and 65,535) bytes of valid UTF-8, as a
    server's websockets parser would give them; how many bytes they took; and whether reading
    stopped only for want of bytes (False: a frame of another kind starts at that point)."""
    texts: list[str] = []
    pos, end = 0, len(data)
    while pos + 2 <= end:
        if data[pos] != 0x81:  # FIN, no RSV bit, text
            return texts, pos, False
        second = data[pos + 1]
        length = second & 0x7F
        if not second & 0x80 or length == 127:  # unmasked (refused), or 64 KiB and over
            return texts, pos, False
        start = pos + 6
        if length == 126:
            start = pos + 8
            if start > end:
                break
            length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length > max_size:
            return texts, pos, False
        stop = start + length
        if stop > end:
            break
        try:
            texts.append(apply_mask(data[start:stop], data[start - 4:start]).decode())
        except UnicodeDecodeError:
            return texts, pos, False
        pos = stop
    return texts, pos, True


def websocket_protocol() -> type | None:
    """The WebSocket protocol class to give uvicorn (`Config(ws=...)`): the lean one where
    uvicorn's own choice would be websockets-sansio, else None (uvicorn's choice)."""
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

    return LeanWebSocketProtocol if AutoWebSocketsProtocol is WebSocketsSansIOProtocol else None


def header_deadline_protocol(header_timeout_s: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class to give uvicorn (`Config(http=...)`), with this deadline."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,),
                {"header_timeout_s": header_timeout_s})


def connection_aborter(environ: dict):  # noqa: ANN201 - Callable[[], None] | None
    """The function that drops the TCP connection behind an ASGI WebSocket (None: unknown)."""
    protocol = getattr(environ.get("asgi.send"), "__self__", None)
    transport = getattr(protocol, "transport", None)
    abort = getattr(transport, "abort", None)
    return abort if callable(abort) else None


def _websocket_protocols() -> list[type]:
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

    return [AutoWebSocketsProtocol] if AutoWebSocketsProtocol is not None else []


def self_test() -> None:
    """Fail at start-up, with one clear message, if the uvicorn internals used here changed."""
    missing = [name for name in ("connection_made", "connection_lost", "on_message_begin",
                                 "on_headers_complete", "on_response_complete",
                                 "handle_websocket_upgrade")
               if not callable(getattr(HttpToolsProtocol, name, None))]
    source = inspect.getsource(HttpToolsProtocol.__init__)
    if "self.loop" not in source:
        missing.append("HttpToolsProtocol.loop")
    for protocol in _websocket_protocols():
        if not callable(getattr(protocol, "send", None)) or \
                "self.transport" not in inspect.getsource(protocol.connection_made):
            missing.append(f"{protocol.__name__}.send / .transport (aborting a WebSocket)")
    lean = inspect.getsource(WebSocketsSansIOProtocol)
    # The receive queue and the writable flag: only what LeanQueue / LeanEvent provide.
    used = {(name, method) for name, method in re.findall(r"self\.(queue|writable)\.(\w+)", lean)}
    if not used <= {("queue", "put_nowait"), ("queue", "get"), ("queue", "empty"),
                    ("writable", "set"), ("writable", "clear"), ("writable", "wait"),
                    ("writable", "is_set")}:
        missing.append(f"WebSocketsSansIOProtocol queue / writable use {sorted(used)}")
    # The handshake's request and response: read in handle_connect and the accept only.
    outside = [line for line in inspect.getsource(WebSocketsSansIOProtocol.send).splitlines()
               if "self.response" in line]
    if re.findall(r"self\.request\b", lean) != ["self.request"] \
            or "self.request = event" not in lean \
            or len(outside) != 3 or "self.handshake_complete = True" not in \
            inspect.getsource(WebSocketsSansIOProtocol.send):
        missing.append("WebSocketsSansIOProtocol request / response (the handshake)")
    # An attribute without a slot would still work (the instance keeps a dict), at the cost
    # of the dict: the pinned version sets exactly these.
    assigned = set(re.findall(r"self\.(\w+)\s*(?::[^=\n]+)?=(?!=)", lean))
    if not assigned <= set(_WEBSOCKET_ATTRIBUTES):
        missing.append(f"WebSocketsSansIOProtocol attributes {sorted(assigned - set(_WEBSOCKET_ATTRIBUTES))}")
    # Frames read directly (LeanWebSocketProtocol.data_received) are queued as uvicorn queues
    # them, with its read pausing, and only where websockets' parser is between frames.
    if "self.conn.receive_data(data)" not in inspect.getsource(
            WebSocketsSansIOProtocol.data_received) \
            or '{"type": "websocket.receive", "text": data.decode()}' not in inspect.getsource(
                WebSocketsSansIOProtocol.send_receive_event_to_app) \
            or "self.read_paused and self.queue.empty()" not in inspect.getsource(
                WebSocketsSansIOProtocol.receive):
        missing.append("WebSocketsSansIOProtocol receiving (direct frames)")
    from websockets.frames import Frame, Opcode
    from websockets.server import ServerProtocol

    server = ServerProtocol(max_size=1000)
    if not (isinstance(getattr(getattr(server, "reader", None), "buffer", None), bytearray)
            and server.current_size is None and server.expect_continuation_frame is False
            and server.parser_exc is None and server.max_message_size == 1000
            and server.extensions == []):
        missing.append("websockets Protocol state (direct frames)")
    frame = Frame(Opcode.TEXT, "é1".encode()).serialize(mask=True, extensions=[])
    if read_text_frames(frame + frame[:3], 1000) != (["é1"], len(frame), True):
        missing.append("websockets masking (direct frames)")
    if missing:
        raise RuntimeError("uvicorn internals changed (see pyproject.toml pin): "
                           + ", ".join(missing))
