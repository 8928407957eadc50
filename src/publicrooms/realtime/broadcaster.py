"""The services' Broadcaster, over Socket.IO (the manager decides in-process vs Redis fan-out)."""

from __future__ import annotations

from typing import Any

import socketio

from publicrooms.realtime.fanout_adapter import EVENTS
from publicrooms.state.sessions import SessionStore

ROOM_PREFIX = "/public-room/"
LOBBY = "/"
# Socket.IO room (inside a room namespace) holding the sockets that took a seat.
SEATED = "seated"


def room_namespace(room_id: str) -> str:
    return f"{ROOM_PREFIX}{room_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


class SocketBroadcaster:
    """Users to sockets (through the sessions), then python-socketio's manager fans out."""

    def __init__(self, sio: socketio.AsyncServer, sessions: SessionStore) -> None:
        self._sio = sio
        self._sessions = sessions

    async def to_room(self, room_id: str, event: str, data: dict[str, Any], *,
                      except_user: str | None = None) -> None:
        namespace = room_namespace(room_id)
        skip = None
        if except_user is not None:
            skip = [s.sid for s in await self._sessions.sockets(except_user)
                    if s.namespace == namespace] or None
        await self._sio.emit(event, data, room=SEATED, namespace=namespace, skip_sid=skip)

    async def to_rooms_in_order(self, event: str, sends: list[tuple[str, dict[str, Any]]]) -> None:
        # Each room's sends in one broadcast: one pass over its seats, one write to each.
        by_room: dict[str, list[dict[str, Any]]] = {}
        for room_id, data in sends:
            by_room.setdefault(room_id, []).append(data)
        emits = [(event, items[0], room_namespace(room_id), SEATED) if len(items) == 1 else
                 (EVENTS, [[event, data] for data in items], room_namespace(room_id), SEATED)
                 for room_id, items in by_room.items()]
        emit_in_order = getattr(self._sio.manager, "emit_in_order", None)
        if emit_in_order is not None:  # several nodes: through the stream, one order for all
            await emit_in_order(emits)
            return
        for name, data, namespace, room in emits:
            await self._sio.emit(name, data, room=room, namespace=namespace)

    async def to_lobby(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        if len(events) == 1:
            await self._sio.emit(*events[0], namespace=LOBBY)
        elif events:  # one broadcast, one pass over the viewers (realtime/fanout_adapter.py)
            await self._sio.emit(EVENTS, [list(event) for event in events], namespace=LOBBY)

    async def to_user(self, room_id: str, user_id: str, event: str,
                      data: dict[str, Any]) -> None:
        await self._sio.emit(event, data, room=user_channel(user_id),
                             namespace=room_namespace(room_id))

    async def user_left(self, room_id: str, user_id: str, occupancy: int) -> None:
        namespace = room_namespace(room_id)
        for socket in await self._sessions.sockets(user_id):
            if socket.namespace == namespace:
                # A socket on another node leaves through the manager's message queue, which
                # keeps order: it is out before the announcement below reaches that node.
                await self._sio.leave_room(socket.sid, SEATED, namespace=namespace)
        await self._sio.emit("user-left", {"userId": user_id, "currentOccupancy": occupancy},
                             room=SEATED, namespace=namespace)
