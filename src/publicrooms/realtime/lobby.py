"""Lobby namespace `/`: a snapshot of the rooms on connect, then occupancy updates."""

from __future__ import annotations

import socketio

from publicrooms.realtime.broadcaster import LOBBY
from publicrooms.realtime.gateway import Gateway


def register_lobby(sio: socketio.AsyncServer, gateway: Gateway) -> None:
    rooms = gateway.ctx.rooms

    @sio.on("connect", namespace=LOBBY)
    async def connect(sid: str, environ: dict, auth: object = None) -> None:
        # A refused socket has already been told and disconnected by the gateway; returning
        # False here would make python-socketio send a second, data-carrying refusal.
        if not await gateway.connect(LOBBY, sid, environ):
            return
        snapshot = await rooms.list_rooms()
        await sio.emit("rooms", {"rooms": [room.wire() for room in snapshot]}, to=sid,
                       namespace=LOBBY, ignore_queue=True)  # our own socket: no fan-out
        await sio.emit("system-occupancy-update", await rooms.system_occupancy(), to=sid,
                       namespace=LOBBY, ignore_queue=True)

    @sio.on("disconnect", namespace=LOBBY)
    async def disconnect(sid: str, reason: object = None) -> None:
        await gateway.disconnect(LOBBY, sid, reason)

    @sio.on("get-rooms", namespace=LOBBY)
    async def get_rooms(sid: str, data: object = None) -> dict:
        await gateway.registry.touch(sid)
        return {"rooms": [room.wire() for room in await rooms.list_rooms()]}

    @sio.on("pong", namespace=LOBBY)
    async def pong(sid: str, data: object = None) -> dict:
        await gateway.registry.touch(sid)
        return {"success": True}
