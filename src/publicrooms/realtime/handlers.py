"""Wrapping of Socket.IO event handlers: activity, domain errors as an `error` event and an ack."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
import structlog

from publicrooms.errors import DomainError, as_domain_error, is_outage

log = structlog.get_logger("publicrooms.realtime")

Handler = Callable[..., Awaitable[dict[str, Any] | None]]


def error_ack(error: DomainError) -> dict[str, Any]:
    return {"error": error.payload()}


def domain_error(exc: BaseException, **context: Any) -> DomainError:
    """What the client is told about an exception; outages and bugs are logged."""
    error = as_domain_error(exc)
    if not isinstance(exc, DomainError):
        if is_outage(exc):
            log.warning("backing service unavailable", error=repr(exc), **context)
        else:
            log.error("event failed", exc_info=exc, **context)
    return error


def event_handler(sio: socketio.AsyncServer, event: str,
                  on_event: Callable[[str], Awaitable[None]] | None = None) -> Callable[[Handler], Handler]:
    """Answer the ack with the handler's result, or tell the client what went wrong.

    `on_event(sid)` runs first: any event from a client counts as activity.
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(namespace: str, sid: str, *args: Any) -> dict[str, Any] | None:
            if on_event is not None:
                await on_event(sid)
            try:
                return await handler(namespace, sid, *args)
            except Exception as exc:
                error = domain_error(exc, socket_event=event, namespace=namespace)
                await sio.emit("error", error.payload(), to=sid, namespace=namespace,
                               ignore_queue=True)  # the socket is ours: no fan-out
                return error_ack(error)

        return wrapper

    return decorate
