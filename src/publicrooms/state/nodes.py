"""Nodes: each server process has an id and a heartbeat; the survivors notice the dead."""

from __future__ import annotations

from typing import Protocol


class NodeStore(Protocol):
    node_id: str

    async def heartbeat(self) -> None:
        """This node is alive (for the heartbeat timeout from now)."""
    async def dead(self) -> list[str]:
        """Nodes that were registered and whose heartbeat ran out."""
    async def forget(self, node_id: str) -> None:
        """A dead node's records are cleaned up: stop reporting it."""
    async def leave(self) -> None:
        """This node stops cleanly."""


class LocalNode:
    """One process: nobody else to notice."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id

    async def heartbeat(self) -> None:
        return None

    async def dead(self) -> list[str]:
        return []

    async def forget(self, node_id: str) -> None:
        return None

    async def leave(self) -> None:
        return None
