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
lets the handshake's request and response go once the WebSocket is accepted.

This is the one place that touches uvicorn internals (`HttpToolsProtocol` and its httptools
callbacks `on_message_begin` / `on_headers_complete`; the WebSocket protocols' bound `send`
and `transport`; `WebSocketsSansIOProtocol`'s `queue`, `writable`, `request`, `response`,
`handshake_complete`); `self_test()` runs at start-up.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

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

    __slots__ = (*_WEBSOCKET_ATTRIBUTES, "corked")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.corked: Any = None  # the fan-out's Cork, once a socket writes through it
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = LeanEvent()  # type: ignore[assignment]
        self.writable.set()

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
    if missing:
        raise RuntimeError("uvicorn internals changed (see pyproject.toml pin): "
                           + ", ".join(missing))
