"""create_app(settings, clock): wires stores, services and transports; owns start-up and shutdown."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import socketio
import structlog
from fastapi import FastAPI

from publicrooms.api.errors import install_error_handlers
from publicrooms.api.metrics import router as metrics_router
from publicrooms.api.routes import health, router
from publicrooms.clock import Clock
from publicrooms.context import AppContext
from publicrooms.errors import ConnectionTimeout
from publicrooms.realtime.broadcaster import SocketBroadcaster
from publicrooms.realtime.connections import ConnectionRegistry
from publicrooms.realtime.gateway import Gateway
from publicrooms.realtime.health import HealthChecker
from publicrooms.media.service import MediaService
from publicrooms.realtime.lobby import register_lobby
from publicrooms.realtime.media import register_media
from publicrooms.realtime.room import register_rooms
from publicrooms.security.abuse import AbuseMonitor
from publicrooms.security.client_ip import ClientIpResolver
from publicrooms.security.connections import ConnectionGuard
from publicrooms.security.ipkey import IpKeyer, load_secret
from publicrooms.security.ratelimit import RateLimiter
from publicrooms.security.rules import limit_rules
from publicrooms.services.activity import ActivityTracker
from publicrooms.services.cleanup import InactiveUserSweep, TableSweep
from publicrooms.services.rooms import RoomService
from publicrooms.services.scheduler import Scheduler
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
        self.clock = clock = clock or Clock()
        cleanup, limits = settings.cleanup, settings.limits
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            namespaces="*",
            # Connect first, then decide: a refused client gets `connection-rejected` with the
            # reason (as the original server sent) before it is disconnected.
            always_connect=True,
            # One socket's packets are handled in arrival order (chat stays in order, and a
            # client's DISCONNECT packet is seen before its transport closes).
            async_handlers=False,
            cors_allowed_origins=settings.allowed_origins or None,
            max_http_buffer_size=settings.max_message_bytes,
            http_compression=settings.ws_compression,
            ping_interval=cleanup.engineio_ping_interval_s,
            ping_timeout=cleanup.engineio_ping_timeout_s,
            logger=False,
            engineio_logger=False,
        )
        sql = SqlStore(create_engine(settings.resolved_database_url))
        presence = MemoryPresenceStore()
        activity = ActivityTracker(clock)
        rooms = [RoomRecord(r.id, r.name, r.capacity, i) for i, r in enumerate(settings.rooms)]
        self.broadcaster = SocketBroadcaster(self.sio)
        self.media = MediaService(settings.media) if settings.media.enabled else None
        room_service = RoomService(
            sql=sql, presence=presence, broadcaster=self.broadcaster, clock=clock, rooms=rooms,
            system_capacity=settings.system_capacity, history_length=settings.history_length,
            message_max=settings.message_max, media=self.media,
            admission_hold_s=cleanup.rest_seat_hold_s)
        self.ctx = AppContext(
            settings=settings,
            clock=clock,
            sql=sql,
            presence=presence,
            keyer=IpKeyer(load_secret(settings.secret, settings.data_dir)),
            resolver=ClientIpResolver(settings.trusted_proxies),
            users=UserService(sql=sql, clock=clock, display_name_max=settings.display_name_max,
                              activity=activity),
            rooms=room_service,
            activity=activity,
            limiter=RateLimiter(clock=clock, storage_uri=limits.storage_uri),
            abuse=AbuseMonitor(clock=clock, violations_before_block=limits.violations_before_block,
                               window_s=limits.violation_window_s, block_s=limits.ip_block_s),
            guard=ConnectionGuard(clock=clock, max_per_key=limits.connections_per_ip,
                                  base_s=limits.reconnect_base_s, max_s=limits.reconnect_max_s,
                                  free_attempts=limits.reconnect_free_attempts,
                                  window_s=limits.reconnect_window_s),
            rules=limit_rules(limits),
        )
        self._rooms = rooms
        self.registry = ConnectionRegistry(clock, activity.touch)
        self.gateway = Gateway(self.sio, self.ctx, self.registry)
        register_lobby(self.sio, self.gateway)
        register_rooms(self.sio, self.gateway)
        register_media(self.sio, self.gateway, self.media)
        self.scheduler = self._build_scheduler()
        self.api = self._build_api()
        self.asgi = SecurityHeaders(
            BodySizeLimit(socketio.ASGIApp(self.sio, other_asgi_app=self.api),
                          max_bytes=settings.max_message_bytes),
            allowed_origins=settings.allowed_origins,
        )
        self._drained = False

    def _build_scheduler(self) -> Scheduler:
        ctx, cleanup = self.ctx, self.settings.cleanup
        scheduler = Scheduler(self.clock)
        inactive = InactiveUserSweep(
            sql=ctx.sql, rooms=ctx.rooms, activity=ctx.activity, clock=self.clock,
            inactive_after_s=cleanup.inactive_after_s,
            disconnect_user=lambda user_id: self.gateway.disconnect_user(
                user_id, ConnectionTimeout("Disconnected after a long time without activity.")))
        health = HealthChecker(sio=self.sio, registry=self.registry, clock=self.clock,
                               idle_s=cleanup.ping_idle_s, max_missed=cleanup.ping_max_missed)
        tables = TableSweep(tables=[ctx.limiter, ctx.abuse, ctx.guard], flush=self.flush_events)
        scheduler.add("inactive-users", cleanup.inactive_sweep_interval_s, inactive.run)
        scheduler.add("health-checks", cleanup.ping_interval_s, health.run)
        scheduler.add("seat-holds", min(1.0, max(0.05, cleanup.reconnect_grace_s / 4)),
                      lambda: ctx.rooms.release_expired_holds(self.gateway.has_socket))
        scheduler.add("tables", cleanup.table_sweep_interval_s, tables.run)
        return scheduler

    async def flush_events(self) -> int:
        """Write pending suspicious-activity events to SQL."""
        events = self.ctx.abuse.take_pending()
        await self.ctx.sql.add_suspicious_events(events)
        return len(events)

    def _build_api(self) -> FastAPI:
        api = FastAPI(title="publicrooms", version="0.1.0", lifespan=self._lifespan,
                      description="Anonymous public study rooms: REST API. Real-time events "
                                  "are Socket.IO; see docs/protocol.md.")
        api.state.ctx = self.ctx
        api.state.server = self
        install_error_handlers(api)
        api.include_router(router)
        api.include_router(health)
        api.include_router(metrics_router)
        mount_page(api)
        return api

    def table_sizes(self) -> dict[str, int]:
        """Every in-memory table and its entry count (metrics, churn tests)."""
        ctx = self.ctx
        sizes: dict[str, int] = {}
        for part in (ctx.presence, ctx.limiter, ctx.abuse, ctx.guard, ctx.activity, self.registry,
                     ctx.rooms.queue):
            sizes.update(part.table_sizes())
        sizes["seat_holds"] = len(ctx.rooms._holds)
        sizes["user_locks"] = len(ctx.rooms._user_locks)
        return sizes

    async def startup(self) -> None:
        await migrate(self.ctx.sql.engine)
        await self.ctx.sql.sync_rooms(self._rooms, self.clock.now())
        # Seats live in presence, which starts empty: stale seat records would lie.
        await self.ctx.sql.clear_participants()
        if self.media is not None:
            await self.media.start()
        self.scheduler.start()
        if self.settings.gc_freeze:
            # Long-lived start-up objects leave the GC's view, and gen-0 runs less often, which
            # removes the periodic pauses seen with thousands of sockets.
            gc.collect()
            gc.freeze()
            gc.set_threshold(self.settings.gc_gen0_threshold, 50, 100)
        log.info("server started", rooms=len(self._rooms),
                 database=self.ctx.sql.engine.dialect.name)

    async def drain(self) -> None:
        """Stop admitting, tell clients, stop schedulers, close connections (idempotent)."""
        if self._drained:
            return
        self._drained = True
        self.ctx.shutting_down = True
        log.info("shutdown started", connections=len(self.registry))
        await self.gateway.announce_shutdown()
        await self.scheduler.stop()
        await asyncio.sleep(0)  # let the announcement reach the sockets' send queues
        await self.gateway.close_all()
        if self.media is not None:
            await self.media.stop()
        await self.flush_events()

    async def shutdown(self) -> None:
        await self.drain()
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
