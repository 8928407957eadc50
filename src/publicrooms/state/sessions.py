"""Sessions: which sockets each user has, in which room namespace, on which node."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SocketRef:
    sid: str
    namespace: str
    room_id: str | None
    node: str
    joined: bool = False   # took (or resumed) a seat through join-room


class SessionStore(Protocol):
    async def bind(self, user_id: str, socket: SocketRef) -> None: ...
    async def set_joined(self, user_id: str, sid: str, joined: bool) -> None: ...
    async def unjoin_room(self, user_id: str, room_id: str) -> None:
        """None of the user's sockets in this room holds the seat any more."""
    async def remove(self, user_id: str, sid: str) -> None: ...
    async def sockets(self, user_id: str) -> list[SocketRef]: ...
    async def of_node(self, node: str) -> list[tuple[str, SocketRef]]:
        """(user id, socket) of every socket a node holds."""


class MemorySessionStore:
    def __init__(self) -> None:
        self._by_user: dict[str, dict[str, SocketRef]] = {}

    async def bind(self, user_id: str, socket: SocketRef) -> None:
        self._by_user.setdefault(user_id, {})[socket.sid] = socket

    async def set_joined(self, user_id: str, sid: str, joined: bool) -> None:
        sockets = self._by_user.get(user_id, {})
        if sid in sockets:
            sockets[sid] = replace(sockets[sid], joined=joined)

    async def unjoin_room(self, user_id: str, room_id: str) -> None:
        sockets = self._by_user.get(user_id, {})
        for sid, socket in list(sockets.items()):
            if socket.room_id == room_id and socket.joined:
                sockets[sid] = replace(socket, joined=False)

    async def remove(self, user_id: str, sid: str) -> None:
        sockets = self._by_user.get(user_id)
        if sockets is not None:
            sockets.pop(sid, None)
            if not sockets:
                del self._by_user[user_id]

    async def sockets(self, user_id: str) -> list[SocketRef]:
        return list(self._by_user.get(user_id, {}).values())

    async def of_node(self, node: str) -> list[tuple[str, SocketRef]]:
        return [(user, socket) for user, sockets in self._by_user.items()
                for socket in sockets.values() if socket.node == node]

    def table_sizes(self) -> dict[str, int]:
        return {"users_connected": len(self._by_user)}
