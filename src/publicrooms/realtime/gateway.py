"""Socket lifecycle for every namespace: admission (limits, blocks), registry, disconnect cleanup."""

from __future__ import annotations

import asyncio

import socketio
import structlog

from publicrooms.context import AppContext
from publicrooms.errors import (
    is_outage,
    DomainError,
    InvalidUser,
    NotInRoom,
    RoomNotFound,
    ServerShuttingDown,
)
from publicrooms.realtime.broadcaster import LOBBY, ROOM_PREFIX, room_namespace
from publicrooms.realtime.connections import Connection, ConnectionRegistry
from publicrooms.realtime.handlers import domain_error, event_handler
from publicrooms.realtime.health import terminate
from publicrooms.state.sessions import SocketRef

log = structlog.get_logger("publicrooms.realtime")

# Disconnects that mean "gone on purpose": the seat is released at once. Anything else
# (transport closed, ping timeout) may be a blip: the seat is held for the reconnect grace.
_DELIBERATE = {socketio.AsyncServer.reason.CLIENT_DISCONNECT,
               socketio.AsyncServer.reason.SERVER_DISCONNECT}


def room_id_of(namespace: str) -> str:
    if not namespace.startswith(ROOM_PREFIX):
        raise RoomNotFound()
    return namespace[len(ROOM_PREFIX):]


class Gateway:
    def __init__(self, sio: socketio.AsyncServer, ctx: AppContext,
                 registry: ConnectionRegistry) -> None:
        self.sio = sio
        self.ctx = ctx
        self.registry = registry
        # Engine.IO sids between their admission in shared state and their registry entry.
        self.admitting: set[str] = set()
        # Engine.IO sessions refused at opening (per-IP limit): their namespaces get the reason.
        self.refused: dict[str, DomainError] = {}
        self._closing: set[asyncio.Task] = set()   # refused sessions closing once drained
        self._cleanups: set[asyncio.Task] = set()  # disconnect cleanups under way

    async def session_opened(self, eio_sid: str, environ: dict) -> None:
        """A bare Engine.IO connection counts against its address's limit from the start."""
        ip_key = self.ctx.ip_key_of_scope(environ["asgi.scope"])
        self.admitting.add(eio_sid)
        try:
            await self.ctx.guard.admit(ip_key, eio_sid)
        except Exception as exc:
            error = domain_error(exc)
            if error.code != "TEMPORARILY_UNAVAILABLE":
                await self.ctx.abuse.record(ip_key, error.code.lower().replace("_", "-"))
            self.refused[eio_sid] = error
        finally:
            self.admitting.discard(eio_sid)

    def table_sizes(self) -> dict[str, int]:
        return {"sessions_admitting": len(self.admitting), "sessions_refused": len(self.refused),
                "sessions_closing": len(self._closing), "cleanups_running": len(self._cleanups)}

    async def session_closed(self, eio_sid: str) -> None:
        if self.refused.pop(eio_sid, None) is None:
            await self.ctx.guard.release(eio_sid)

    async def connect(self, namespace: str, sid: str, environ: dict) -> bool:
        """Admit a namespace connection or tell it why not (`connection-rejected`)."""
        ip_key = self.ctx.ip_key_of_scope(environ["asgi.scope"])
        eio_sid = ""
        try:
            room_id = None if namespace == LOBBY else self.ctx.rooms.room(room_id_of(namespace)).id
            if self.ctx.shutting_down:
                raise ServerShuttingDown()
            await self.ctx.abuse.check(ip_key)
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, namespace)
            refused = self.refused.get(eio_sid)
            if refused is not None:
                raise refused
            self.admitting.add(eio_sid)
            try:
                await self.ctx.guard.admit(ip_key, eio_sid)  # one more on the session's count
            except DomainError as error:
                if error.code != "TEMPORARILY_UNAVAILABLE":
                    await self.ctx.abuse.record(ip_key, error.code.lower().replace("_", "-"))
                raise
        except Exception as exc:
            error = domain_error(exc)
            log.info("connection rejected", code=error.code, namespace=namespace)
            # The socket is already connected (always_connect): say why, then disconnect it
            # server-side. socket.io-client takes a plain server disconnect as final, whereas
            # a refusal packet carrying data makes it reconnect in a loop.
            await self.sio.emit("connection-rejected", error.payload(), to=sid,
                                namespace=namespace, ignore_queue=True)
            await self.sio.disconnect(sid, namespace=namespace)
            if eio_sid in self.refused:
                # Nothing left for it to do here; closed once the refusal has been written out
                # (closing at once can drop the queued `connection-rejected`, and the client
                # then retries instead of explaining).
                task = asyncio.ensure_future(self.sio.close_session_when_drained(eio_sid))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            return False
        finally:
            self.admitting.discard(eio_sid)
        self.registry.add(Connection(sid=sid, namespace=namespace, ip_key=ip_key,
                                     eio_sid=eio_sid, room_id=room_id))
        return True

    async def disconnect(self, namespace: str, sid: str, reason: object) -> None:
        connection = self.registry.remove(sid)
        if connection is None:
            return
        # The cleanup runs in a task of its own, shielded: a socket's task cancelled at
        # shutdown (past the grace) then does not stop it halfway through a transaction,
        # and shutdown waits for it before it closes the database (`cleanups_finished`).
        cleanup = asyncio.ensure_future(self._cleanup_or_defer(connection, reason))
        self._cleanups.add(cleanup)
        cleanup.add_done_callback(self._cleanups.discard)
        await asyncio.shield(cleanup)

    async def cleanups_finished(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` for the disconnect cleanups under way; past it, cancel
        them. Returns how many were cancelled."""
        if not self._cleanups:
            return 0
        _, pending = await asyncio.wait(set(self._cleanups), timeout=timeout_s)
        for cleanup in pending:
            cleanup.cancel()
        if pending:
            log.warning("disconnect cleanups cancelled at shutdown", cancelled=len(pending),
                        timeout_s=timeout_s)
            await asyncio.wait(pending, timeout=1.0)
        return len(pending)

    async def _cleanup_or_defer(self, connection: Connection, reason: object) -> None:
        try:
            await self._cleanup(connection, reason)
        except Exception as exc:
            if not is_outage(exc):
                # Its socket's task may be gone (cancelled at shutdown): said here, once.
                log.exception("disconnect cleanup failed", sid=connection.sid)
                return
            # Shared state is away: the node's reconcile job finishes this cleanup later.
            log.warning("disconnect cleanup deferred", error=repr(exc))

    async def _cleanup(self, connection: Connection, reason: object) -> None:
        sid = connection.sid
        await self.ctx.guard.release(connection.eio_sid)
        user_id, room_id = connection.user_id, connection.room_id
        if user_id is None:
            return
        await self.ctx.state.sessions.remove(user_id, sid)
        if room_id is None:
            return
        if self.ctx.shutting_down:
            # One process going away takes its seats with it; one node of several going away
            # (a rolling restart) holds them for the grace while its clients reconnect elsewhere.
            deliberate = not self.ctx.state.shared
        else:
            deliberate = reason in _DELIBERATE
        await self.ctx.rooms.socket_gone(user_id=user_id, room_id=room_id,
                                         joined=connection.joined, deliberate=deliberate)

    async def reconcile(self) -> int:
        """Finish cleanups an outage interrupted: what shared state says this node holds but
        the node no longer has is released (seats held for the grace). Returns how many."""
        node = self.ctx.state.node.node_id
        # Shared state first, then this node's view: a socket missing from the view afterwards
        # is gone for good (sids are never reused).
        sessions = await self.ctx.state.sessions.of_node(node)
        fixed = 0
        for user_id, socket in sessions:
            if self.registry.get(socket.sid) is not None:
                continue
            await self.ctx.state.sessions.remove(user_id, socket.sid)
            if socket.room_id is not None:
                await self.ctx.rooms.socket_gone(user_id=user_id, room_id=socket.room_id,
                                                 joined=socket.joined, deliberate=False)
            fixed += 1
        live: set[str] | None = None

        def is_live(eio_sid: str) -> bool:
            nonlocal live
            if live is None:  # first asked once shared state has been read
                live = ({c.eio_sid for c in self.registry.all()} | self.admitting
                        | self.sio.session_ids())
            return eio_sid in live

        fixed += await self.ctx.state.connections.keep_only(node, is_live)
        if fixed:
            log.warning("reconciled with shared state", fixed=fixed)
        return fixed

    async def bind_user(self, sid: str, user_id: str) -> None:
        """The socket speaks for this user from now on (on every node's view)."""
        conn = self.registry.get(sid)
        previous = conn.user_id if conn is not None else None
        self.registry.bind_user(sid, user_id)
        if previous and previous != user_id:
            await self.ctx.state.sessions.remove(previous, sid)
        conn = self.registry.get(sid)
        await self.ctx.state.sessions.bind(user_id, SocketRef(
            sid=sid, namespace=conn.namespace, room_id=conn.room_id,
            node=self.ctx.state.node.node_id, joined=conn.joined))

    async def set_joined(self, sid: str, joined: bool) -> None:
        conn = self.registry.get(sid)
        if conn is None or conn.user_id is None:
            return
        conn.joined = joined
        await self.ctx.state.sessions.set_joined(conn.user_id, sid, joined)

    def on(self, event: str):  # noqa: ANN201
        """Register a handler for every room namespace, with activity and error answers."""
        def decorate(handler):  # noqa: ANN001, ANN202
            wrapped = event_handler(self.sio, event, self.registry.touch)(handler)
            return self.sio.on(event, namespace="*")(wrapped)
        return decorate

    def connection(self, sid: str) -> Connection:
        """The socket's connection, which must be in a room namespace."""
        conn = self.registry.get(sid)
        if conn is None or conn.room_id is None:
            raise NotInRoom("This connection is not in a room namespace.")
        return conn

    def seated(self, sid: str, claimed_user_id: str | None = None) -> Connection:
        """The socket's connection, which must hold a seat (as the claimed user, if named)."""
        conn = self.connection(sid)
        if claimed_user_id is not None and claimed_user_id != conn.user_id:
            raise InvalidUser()
        if not conn.joined or conn.user_id is None:
            raise NotInRoom()
        return conn

    async def disconnect_user(self, user_id: str, error: DomainError) -> int:
        """Close every socket of a user, on any node (cleanup runs as usual); how many."""
        sockets = await self.ctx.state.sessions.sockets(user_id)
        for socket in sockets:
            await terminate(self.sio, socket.sid, socket.namespace, error)
        return len(sockets)

    async def kick_user(self, user_id: str, error: DomainError) -> int:
        """Tell each of the user's sockets (on any node) why with `kicked`, then close it; the
        close counts as deliberate, so the seat is freed at once with the usual broadcasts."""
        sockets = await self.ctx.state.sessions.sockets(user_id)
        for socket in sockets:
            await self.sio.emit("kicked", error.payload(), to=socket.sid,
                                namespace=socket.namespace)
            await self.sio.disconnect(socket.sid, namespace=socket.namespace)
        return len(sockets)

    async def close_ip_key(self, ip_key: str, error: DomainError) -> int:
        """Refuse this node's sockets of an IP key from now on (a new ban): say why, close."""
        closed = 0
        for connection in self.registry.all():
            if connection.ip_key == ip_key:
                await terminate(self.sio, connection.sid, connection.namespace, error)
                closed += 1
        return closed

    async def announce_shutdown(self) -> None:
        """Tell this node's clients the server is going away (the other nodes stay up)."""
        payload = ServerShuttingDown().payload()
        await self.sio.emit("server-shutting-down", payload, namespace=LOBBY, ignore_queue=True)
        for room_id in {c.room_id for c in self.registry.all() if c.room_id}:
            await self.sio.emit("server-shutting-down", payload,
                                namespace=room_namespace(room_id), ignore_queue=True)

    async def close_all(self) -> None:
        for connection in self.registry.all():
            try:
                await self.sio.disconnect(connection.sid, namespace=connection.namespace)
            except Exception:
                log.exception("closing a socket failed")
