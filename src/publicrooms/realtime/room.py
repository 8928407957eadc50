"""Room namespaces `/public-room/{roomId}`: join, leave, chat, camera/mic toggles, pong."""

from __future__ import annotations

from typing import Any

import socketio
import structlog

from publicrooms.context import AppContext
from publicrooms.errors import DomainError, InvalidUser, NotInRoom, RoomNotFound
from publicrooms.realtime.broadcaster import ROOM_PREFIX, SEATED, user_channel
from publicrooms.realtime.connections import Connection, ConnectionRegistry
from publicrooms.realtime.handlers import event_handler
from publicrooms.schemas.base import parse
from publicrooms.schemas.rooms import (
    JoinResponse,
    JoinRoomPayload,
    LeaveRoomPayload,
    MessageSent,
    SendMessagePayload,
    TogglePayload,
    UserRead,
)
from publicrooms.store.sql import UserRecord

log = structlog.get_logger("publicrooms.realtime")


def room_id_of(namespace: str) -> str:
    if not namespace.startswith(ROOM_PREFIX):
        raise RoomNotFound()
    return namespace[len(ROOM_PREFIX):]


def register_rooms(sio: socketio.AsyncServer, ctx: AppContext,
                   registry: ConnectionRegistry) -> None:
    def connection(sid: str) -> Connection:
        conn = registry.get(sid)
        if conn is None or conn.room_id is None:
            raise NotInRoom("This connection is not in a room namespace.")
        return conn

    def seated(sid: str, claimed_user_id: str | None = None) -> Connection:
        conn = connection(sid)
        if claimed_user_id is not None and claimed_user_id != conn.user_id:
            raise InvalidUser()
        if not conn.joined or conn.user_id is None:
            raise NotInRoom()
        return conn

    async def user_for_join(conn: Connection, payload: JoinRoomPayload) -> UserRecord:
        if payload.user_id is None and payload.user_name is None:
            return await ctx.users.resolve_user(ip_key=conn.ip_key, user_id=None)
        if payload.user_id is not None:
            user = await ctx.users.resolve_user(ip_key=conn.ip_key, user_id=payload.user_id)
            if payload.user_name is None or payload.user_name == user.display_name:
                return user
        # A name with the join creates the user, or renames the caller's own.
        return await ctx.users.create_user(ip_key=conn.ip_key, display_name=payload.user_name)

    @sio.on("connect", namespace="*")
    async def connect(namespace: str, sid: str, environ: dict, auth: object = None) -> None:
        try:
            room = ctx.rooms.room(room_id_of(namespace))
        except DomainError as error:
            raise socketio.exceptions.ConnectionRefusedError(error.message,
                                                             error.payload()) from None
        ip_key = ctx.ip_key_of_scope(environ["asgi.scope"])
        registry.add(Connection(sid=sid, namespace=namespace, ip_key=ip_key, room_id=room.id))

    @sio.on("join-room", namespace="*")
    @event_handler(sio, "join-room")
    async def join_room(namespace: str, sid: str, data: Any = None) -> dict:
        conn = connection(sid)
        payload = parse(JoinRoomPayload, data)
        user = await user_for_join(conn, payload)
        # Subscribe before taking the seat so no broadcast falls between history and live.
        await sio.enter_room(sid, SEATED, namespace=namespace)
        try:
            result = await ctx.rooms.join_room(room_id=conn.room_id, user=user, skip_sid=sid)
        except BaseException:
            if not conn.joined:
                await sio.leave_room(sid, SEATED, namespace=namespace)
            raise
        registry.bind_user(sid, user.id)
        conn.joined = True
        await sio.enter_room(sid, user_channel(user.id), namespace=namespace)
        return JoinResponse(
            room=result.room, participants=result.participants,
            recent_messages=result.recent_messages,
            self_=UserRead(user_id=user.id, display_name=user.display_name),
        ).wire()

    @sio.on("leave-room", namespace="*")
    @event_handler(sio, "leave-room")
    async def leave_room(namespace: str, sid: str, data: Any = None) -> dict:
        payload = parse(LeaveRoomPayload, data)
        conn = seated(sid, payload.user_id)
        await ctx.rooms.leave_room(user_id=conn.user_id, room_id=conn.room_id)
        for other in registry.joined_sids(conn.user_id, conn.room_id):
            registry.get(other).joined = False
        return {"success": True}

    @sio.on("send-message", namespace="*")
    @event_handler(sio, "send-message")
    async def send_message(namespace: str, sid: str, data: Any = None) -> dict:
        payload = parse(SendMessagePayload, data)
        conn = seated(sid)
        message = await ctx.rooms.send_message(room_id=conn.room_id, user_id=conn.user_id,
                                               content=payload.content)
        return MessageSent(message=message).wire()

    async def toggle(sid: str, data: Any, kind: str) -> dict:
        payload = parse(TogglePayload, data)
        conn = seated(sid, payload.user_id)
        await ctx.rooms.toggle_media(room_id=conn.room_id, user_id=conn.user_id, kind=kind,
                                     enabled=payload.enabled, skip_sid=sid)
        return {"success": True, "enabled": payload.enabled}

    @sio.on("toggle-video", namespace="*")
    @event_handler(sio, "toggle-video")
    async def toggle_video(namespace: str, sid: str, data: Any = None) -> dict:
        return await toggle(sid, data, "video")

    @sio.on("toggle-audio", namespace="*")
    @event_handler(sio, "toggle-audio")
    async def toggle_audio(namespace: str, sid: str, data: Any = None) -> dict:
        return await toggle(sid, data, "audio")

    @sio.on("pong", namespace="*")
    @event_handler(sio, "pong")
    async def pong(namespace: str, sid: str, data: Any = None) -> dict:
        connection(sid)
        return {"success": True}

    @sio.on("disconnect", namespace="*")
    async def disconnect(namespace: str, sid: str, reason: object = None) -> None:
        conn = registry.remove(sid)
        if conn is None or not conn.joined or conn.user_id is None:
            return
        if registry.joined_sids(conn.user_id, conn.room_id):
            return  # another tab of the same user still holds the seat
        try:
            await ctx.rooms.leave_room(user_id=conn.user_id, room_id=conn.room_id)
        except Exception:
            log.exception("disconnect cleanup failed", room_id=conn.room_id)
