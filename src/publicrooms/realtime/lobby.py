"""Lobby namespace `/`: a snapshot of the rooms on connect, then occupancy updates."""

from __future__ import annotations

import socketio

from publicrooms.context import AppContext
from publicrooms.realtime.broadcaster import LOBBY


def register_lobby(sio: socketio.AsyncServer, ctx: AppContext) -> None:
    @sio.on("connect", namespace=LOBBY)
    async def connect(sid: str, environ: dict, auth: object = None) -> None:
        rooms = await ctx.rooms.list_rooms()
        await sio.emit("rooms", {"rooms": [room.wire() for room in rooms]}, to=sid,
                       namespace=LOBBY)

    @sio.on("get-rooms", namespace=LOBBY)
    async def get_rooms(sid: str, data: object = None) -> dict:
        rooms = await ctx.rooms.list_rooms()
        return {"rooms": [room.wire() for room in rooms]}
