"""Room namespaces `/public-room/{roomId}`: join, leave, chat, camera/mic toggles, pong."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import socketio

from publicrooms.errors import (
    DomainError,
    InvalidRequest,
    SeatedElsewhere,
    ServerShuttingDown,
)
from publicrooms.realtime.broadcaster import SEATED, user_channel
from publicrooms.realtime.connections import Connection
from publicrooms.realtime.gateway import Gateway
from publicrooms.schemas.base import parse
from publicrooms.schemas.rooms import (
    JoinRoomPayload,
    LeaveRoomPayload,
    SendMessagePayload,
    TogglePayload,
)
from publicrooms.schemas.timer import StatusPayload, StatusSet, TimerChanged
from publicrooms.services.views import iso
from publicrooms.store.sql import UserRecord


def register_rooms(sio: socketio.AsyncServer, gateway: Gateway) -> None:
    ctx, registry = gateway.ctx, gateway.registry

    on, connection, seated = gateway.on, gateway.connection, gateway.seated

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
        await gateway.connect(namespace, sid, environ)  # a refusal is handled there

    @sio.on("disconnect", namespace="*")
    async def disconnect(namespace: str, sid: str, reason: object = None) -> None:
        await gateway.disconnect(namespace, sid, reason)

    @on("join-room")
    async def join_room(namespace: str, sid: str, data: Any = None) -> dict:
        conn = connection(sid)
        payload = parse(JoinRoomPayload, data)
        if ctx.shutting_down:
            raise ServerShuttingDown()
        # Counted on arrival: a refused join waits for no slot and holds none.
        await ctx.limit("join", conn.ip_key)
        async with ctx.joins:  # a burst is served in waves (services/gate.py)
            # A socket that went away while it waited takes no seat.
            return await take_seat(namespace, sid, connection(sid), payload)

    async def take_seat(namespace: str, sid: str, conn: Connection,
                        payload: JoinRoomPayload) -> dict:
        user = await user_for_join(conn, payload)
        elsewhere = [s for s in await ctx.state.sessions.sockets(user.id)
                     if s.namespace == namespace and s.joined and s.sid != sid]
        if elsewhere and not payload.take_over:
            raise SeatedElsewhere(details={"roomId": conn.room_id})
        await gateway.bind_user(sid, user.id)
        # Subscribe before taking the seat so no broadcast falls between history and live;
        # the user channel also carries queue news while waiting.
        await sio.enter_room(sid, user_channel(user.id), namespace=namespace)
        await sio.enter_room(sid, SEATED, namespace=namespace)
        try:
            result = await ctx.rooms.join_room(room_id=conn.room_id, user=user, by_socket=True)
        except BaseException:
            if not conn.joined:
                await sio.leave_room(sid, SEATED, namespace=namespace)
            raise
        await gateway.set_joined(sid, True)
        for other in elsewhere:
            # One seat, one live view: the tab the seat moved away from is told, then closed
            # (on whichever node holds it); the seat stays, as this socket now holds it.
            await sio.emit("seat-moved", {"roomId": conn.room_id}, to=other.sid,
                           namespace=namespace)
            await sio.disconnect(other.sid, namespace=namespace)
        return ctx.rooms.join_wire(result, user)

    @on("leave-room")
    async def leave_room(namespace: str, sid: str, data: Any = None) -> dict:
        payload = parse(LeaveRoomPayload, data)
        conn = connection(sid)
        if conn.user_id is not None and not conn.joined and payload.user_id in (None, conn.user_id):
            await ctx.rooms.leave_queue(user_id=conn.user_id)  # cancel waiting
            return {"success": True}
        conn = seated(sid, payload.user_id)
        await ctx.rooms.leave_room(user_id=conn.user_id, room_id=conn.room_id)
        for other in registry.joined_sids(conn.user_id, conn.room_id):
            registry.get(other).joined = False  # this node's view; the sessions know already
        return {"success": True}

    @on("leave-queue")
    async def leave_queue(namespace: str, sid: str, data: Any = None) -> dict:
        conn = connection(sid)
        if conn.user_id is not None:
            await ctx.rooms.leave_queue(user_id=conn.user_id)
        return {"success": True}

    async def limited(rule: str, conn: Connection, sid: str, namespace: str) -> None:
        """Count the action against its rule; a refused one is also told `rate-limit-exceeded`."""
        try:
            await ctx.limit(rule, conn.ip_key, conn.user_id)
        except DomainError as error:
            if error.status == 429:
                reset = ctx.clock.now() + timedelta(seconds=error.retry_after_s or 0)
                await sio.emit("rate-limit-exceeded", {
                    "action": rule, "retryAfter": error.retry_after, "resetTime": iso(reset),
                }, to=sid, namespace=namespace, ignore_queue=True)
            raise

    @on("send-message")
    async def send_message(namespace: str, sid: str, data: Any = None) -> dict:
        payload = parse(SendMessagePayload, data)
        conn = seated(sid, payload.user_id)
        await limited("chat", conn, sid, namespace)
        message = await ctx.rooms.send_message(room_id=conn.room_id, user_id=conn.user_id,
                                               content=payload.content)
        return {"success": True, "message": message}  # MessageSent's shape, the message already wire

    async def toggle(sid: str, data: Any, kind: str) -> dict:
        payload = parse(TogglePayload, data)
        conn = seated(sid, payload.user_id)
        await ctx.rooms.toggle_media(room_id=conn.room_id, user_id=conn.user_id, kind=kind,
                                     enabled=payload.enabled)
        return {"success": True, "enabled": payload.enabled}

    @on("toggle-video")
    async def toggle_video(namespace: str, sid: str, data: Any = None) -> dict:
        return await toggle(sid, data, "video")

    @on("toggle-audio")
    async def toggle_audio(namespace: str, sid: str, data: Any = None) -> dict:
        return await toggle(sid, data, "audio")

    async def timer_action(namespace: str, sid: str, action: str) -> dict:
        conn = seated(sid, None)
        await limited("timer", conn, sid, namespace)
        seat = await ctx.rooms.seated_in(user_id=conn.user_id, room_id=conn.room_id)
        state = await ctx.rooms.timers.act(room_id=conn.room_id, action=action,
                                           user_id=conn.user_id, name=seat.display_name)
        return TimerChanged(timer=ctx.rooms.timers.view(conn.room_id, state)).wire()

    @on("timer-start")
    async def timer_start(namespace: str, sid: str, data: Any = None) -> dict:
        return await timer_action(namespace, sid, "start")

    @on("timer-pause")
    async def timer_pause(namespace: str, sid: str, data: Any = None) -> dict:
        return await timer_action(namespace, sid, "pause")

    @on("timer-skip")
    async def timer_skip(namespace: str, sid: str, data: Any = None) -> dict:
        return await timer_action(namespace, sid, "skip")

    @on("set-status")
    async def set_status(namespace: str, sid: str, data: Any = None) -> dict:
        payload = parse(StatusPayload, data)
        conn = seated(sid, None)
        await limited("status", conn, sid, namespace)
        status = await ctx.rooms.set_status(room_id=conn.room_id, user_id=conn.user_id,
                                            status=payload.status)
        return StatusSet(status=status).wire()

    @on("pong")
    async def pong(namespace: str, sid: str, data: Any = None) -> dict:
        connection(sid)
        return {"success": True}

    @sio.on("*", namespace="*")
    async def unknown(event: str, namespace: str, sid: str, *args: Any) -> dict:
        # Still activity; and a client awaiting an ack gets an answer instead of a timeout.
        await registry.touch(sid)
        error = InvalidRequest(f"Unknown event {event[:40]!r}.")
        return {"error": error.payload()}
