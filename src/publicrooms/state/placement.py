"""Media placement: each room's media lives on exactly one node (that node's SFU worker)."""

from __future__ import annotations

from typing import Protocol


class PlacementStore(Protocol):
    async def claim(self, room_id: str, node_id: str) -> str:
        """The room's owning node; `node_id` becomes it when the room has none."""
    async def owner(self, room_id: str) -> str | None: ...
    async def release(self, room_id: str, node_id: str) -> None:
        """The room's media is gone from `node_id` (only its owner may release it)."""
    async def release_node(self, node_id: str) -> list[str]:
        """Forget every room a node owned; returns those rooms."""


class LocalPlacement:
    """One process owns every room."""

    def __init__(self, node_id: str) -> None:
        self._node_id = node_id

    async def claim(self, room_id: str, node_id: str) -> str:
        return self._node_id

    async def owner(self, room_id: str) -> str | None:
        return self._node_id

    async def release(self, room_id: str, node_id: str) -> None:
        return None

    async def release_node(self, node_id: str) -> list[str]:
        return []
