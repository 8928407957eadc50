"""create_app(settings, clock): wires stores, services and transports; owns start-up and shutdown."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import socketio
import structlog
from fastapi import FastAPI

from publicrooms.api.errors import install_error_handlers
from publicrooms.api.routes import health, router
from publicrooms.clock import Clock
from publicrooms.context import AppContext
from publicrooms.realtime.broadcaster import SocketBroadcaster
from publicrooms.realtime.connections import ConnectionRegistry
from publicrooms.realtime.lobby import register_lobby
from publicrooms.realtime.room import register_rooms
from publicrooms.security.client_ip import ClientIpResolver
from publicrooms.security.ipkey import IpKeyer, load_secret
from publicrooms.services.rooms import RoomService
from publicrooms.services.users import UserService
from publicrooms.settings import Settings
from publicrooms.store.database import create_engine, migrate
from publicrooms.store.presence import MemoryPresenceStore
from publicrooms.store.sql import RoomRecord, SqlStore
from publicrooms.web import BodySizeLimit, SecurityHeaders, mount_page

log = structlog.get_logger("publicrooms")


class PublicRooms:
    """The running server: its ASGI app and the parts tests may inspect."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            namespaces="*",
            cors_allowed_origins=settings.allowed_origins or None,
            max_http_buffer_size=settings.max_message_bytes,
            http_compression=settings.ws_compression,
            compression_threshold=1024,
            logger=False,
            engineio_logger=False,
        )
        self.registry = ConnectionRegistry()
        self.broadcaster = SocketBroadcaster(self.sio)
        sql = SqlStore(create_engine(settings.resolved_database_url))
        presence = MemoryPresenceStore()
        rooms = [RoomRecord(r.id, r.name, r.capacity, i) for i, r in enumerate(settings.rooms)]
        self.ctx = AppContext(
            settings=settings,
            clock=self.clock,
            sql=sql,
            presence=presence,
            keyer=IpKeyer(load_secret(settings.secret, settings.data_dir)),
            resolver=ClientIpResolver(settings.trusted_proxies),
            users=UserService(sql=sql, clock=self.clock,
                              display_name_max=settings.display_name_max),
            rooms=RoomService(sql=sql, presence=presence, broadcaster=self.broadcaster,
                              clock=self.clock, rooms=rooms,
                              system_capacity=settings.system_capacity,
                              history_length=settings.history_length,
                              message_max=settings.message_max),
        )
        self._rooms = rooms
        register_lobby(self.sio, self.ctx)
        register_rooms(self.sio, self.ctx, self.registry)
        self.api = self._build_api()
        self.asgi = SecurityHeaders(
            BodySizeLimit(socketio.ASGIApp(self.sio, other_asgi_app=self.api),
                          max_bytes=settings.max_message_bytes),
            allowed_origins=settings.allowed_origins,
        )

    def _build_api(self) -> FastAPI:
        api = FastAPI(title="publicrooms", version="0.1.0", lifespan=self._lifespan,
                      description="Anonymous public study rooms: REST API. Real-time events "
                                  "are Socket.IO; see docs/protocol.md.")
        api.state.ctx = self.ctx
        install_error_handlers(api)
        api.include_router(router)
        api.include_router(health)
        mount_page(api)
        return api

    async def startup(self) -> None:
        await migrate(self.ctx.sql.engine)
        await self.ctx.sql.sync_rooms(self._rooms, self.clock.now())
        # Seats live in presence, which starts empty: stale seat records would lie.
        await self.ctx.sql.clear_participants()
        if self.settings.gc_freeze:
            # Long-lived start-up objects leave the GC's view, and gen-0 runs less often, which
            # removes the periodic pauses seen with thousands of sockets.
            gc.collect()
            gc.freeze()
            gc.set_threshold(self.settings.gc_gen0_threshold, 50, 100)
        log.info("server started", rooms=len(self._rooms),
                 database=self.ctx.sql.engine.dialect.name)

    async def shutdown(self) -> None:
        self.ctx.extras["shutting_down"] = True
        await self.ctx.sql.close()
        log.info("server stopped")

    @asynccontextmanager
    async def _lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> PublicRooms:
    """A server built from settings (environment/defaults when none are given)."""
    return PublicRooms(settings or Settings(), clock)
