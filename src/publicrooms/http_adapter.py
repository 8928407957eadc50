"""uvicorn's HTTP protocol with a deadline on request headers (slowloris).

uvicorn closes idle keep-alive connections, but a connection that is trickling the headers of
a request (or sends nothing at all after connecting) is held open for as long as the client
likes. Here every request must finish its headers within `header_timeout_s` of its first byte
(or of the connection opening); otherwise the connection is closed.

A WebSocket whose client stopped reading cannot be closed through ASGI: a close frame waits
behind the full buffer, and so does uvicorn's graceful close. `connection_aborter` finds the
uvicorn protocol behind an ASGI `send` and returns its transport's `abort`.

This is the one place that touches uvicorn internals (`HttpToolsProtocol` and its httptools
callbacks `on_message_begin` / `on_headers_complete`; the WebSocket protocols' bound `send`
and `transport`); `self_test()` runs at start-up.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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
    if missing:
        raise RuntimeError("uvicorn internals changed (see pyproject.toml pin): "
                           + ", ".join(missing))
