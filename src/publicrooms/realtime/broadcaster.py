"""The services' Broadcaster, over Socket.IO (the manager decides in-process vs Redis fan-out)."""

from __future__ import annotations

from typing import Any

import socketio

ROOM_PREFIX = "/public-room/"
LOBBY = "/"
# Socket.IO room (inside a room namespace) holding the sockets that took a seat.
SEATED = "seated"


def room_namespace(room_id: str) -> str:
    return f"{ROOM_PREFIX}{room_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


class SocketBroadcaster:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def to_room(self, room_id: str, event: str, data: dict[str, Any], *,
                      skip_sid: str | None = None) -> None:
        await self._sio.emit(event, data, room=SEATED, namespace=room_namespace(room_id),
                             skip_sid=skip_sid)

    async def to_lobby(self, event: str, data: dict[str, Any]) -> None:
        await self._sio.emit(event, data, namespace=LOBBY)

    async def to_user(self, room_id: str, user_id: str, event: str,
                      data: dict[str, Any]) -> None:
        await self._sio.emit(event, data, room=user_channel(user_id),
                             namespace=room_namespace(room_id))

    async def detach(self, room_id: str, user_id: str) -> None:
        namespace = room_namespace(room_id)
        for sid, _ in list(self._sio.manager.get_participants(namespace, user_channel(user_id))):
            await self._sio.leave_room(sid, SEATED, namespace=namespace)
