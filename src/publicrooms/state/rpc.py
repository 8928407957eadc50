"""Node-to-node calls: ask the node that owns something to do it (media signalling)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

# handler(op, args) → result (JSON-able); raising sends the error back to the caller.
Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]


class RemoteError(Exception):
    """The other node answered with an error (its code and message kept)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class NodeRpc(Protocol):
    def serve(self, handler: Handler) -> None: ...
    async def start(self) -> None: ...
    async def call(self, node_id: str, op: str, args: dict[str, Any],
                   timeout_s: float = 15.0) -> Any: ...
    async def stop(self) -> None: ...


class LocalRpc:
    """One process: there is no other node to call."""

    def serve(self, handler: Handler) -> None:
        self._handler = handler

    async def start(self) -> None:
        return None

    async def call(self, node_id: str, op: str, args: dict[str, Any],
                   timeout_s: float = 15.0) -> Any:
        return await self._handler(op, args)

    async def stop(self) -> None:
        return None
