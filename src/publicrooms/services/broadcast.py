"""What the services need from the real-time transport; realtime/ implements it."""

from __future__ import annotations

from typing import Any, Protocol


class Broadcaster(Protocol):
    async def to_room(self, room_id: str, event: str, data: dict[str, Any], *,
                      except_user: str | None = None) -> None:
        """Send to everyone seated in a room (but `except_user`), on every node."""

    async def to_rooms_in_order(self, event: str, sends: list[tuple[str, dict[str, Any]]]) -> None:
        """Send `event` with each (room id, data) to everyone seated in that room, on every
        node; every seat on every node gets the sends of its room in the order they were made,
        in this call and across calls."""

    async def to_lobby(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Send these events, in this order, to every lobby viewer, on every node (one
        broadcast: each viewer gets them together)."""

    async def to_user(self, room_id: str, user_id: str, event: str,
                      data: dict[str, Any]) -> None:
        """Send to one user's sockets in a room namespace (seated or waiting)."""

    async def user_left(self, room_id: str, user_id: str, occupancy: int) -> None:
        """The user's seat is gone: tell the room (`user-left`); the user hears it no more."""
