"""create_app(settings, clock): wires stores, services and transports; owns start-up and shutdown."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import socketio
import structlog
from fastapi import FastAPI

from publicrooms.api.admin import router as admin_router
from publicrooms.api.docs import mount_docs
from publicrooms.api.errors import install_error_handlers
from publicrooms.api.metrics import router as metrics_router
from publicrooms.api.routes import health, router
from publicrooms.clock import Clock
from publicrooms.context import AppContext
from publicrooms import http_adapter
from publicrooms.errors import ConnectionTimeout, is_outage
from publicrooms.logging import LogFormat
from publicrooms.realtime import engineio_adapter, fanout_adapter, manager_adapter
from publicrooms.realtime.broadcaster import SocketBroadcaster
from publicrooms.realtime.connections import ConnectionRegistry
from publicrooms.realtime.gateway import Gateway
from publicrooms.realtime.health import HealthChecker
from publicrooms.media.service import MediaService
from publicrooms.realtime.lobby import register_lobby
from publicrooms.realtime.media import register_media
from publicrooms.realtime.moderation import register_reports
from publicrooms.realtime.room import register_rooms
from publicrooms.security.abuse import AbuseMonitor
from publicrooms.security.client_ip import ClientIpResolver
from publicrooms.security.connections import ConnectionGuard
from publicrooms.security.ipkey import IpKeyer, load_secret
from publicrooms.security.ratelimit import RateLimiter
from publicrooms.security.rules import limit_rules
from publicrooms.services.chatlog import ChatLog
from publicrooms.services.cleanup import InactiveUserSweep, TableSweep
from publicrooms.services.gate import Gate
from publicrooms.services.lobby_feed import LobbyFeed
from publicrooms.services.media_routing import RoutedMedia
from publicrooms.services.moderation import BanList, ModerationService, ban_error
from publicrooms.services.rooms import RoomService
from publicrooms.services.scheduler import Scheduler
from publicrooms.services.timer import TimerService, timer_configs
from publicrooms.services.users import UserService
from publicrooms.settings import Settings
from publicrooms.state import AbusePolicy, ConnectionPolicy, build_state
from publicrooms.store.database import create_engine, migrate
from publicrooms.store.moderation import ModerationStore
from publicrooms.store.sql import RoomRecord, SqlStore
from publicrooms.store.timers import TimerRecords
from publicrooms.web import BodySizeLimit, SecurityHeaders, WebSocketsFirst, mount_page

log = structlog.get_logger("publicrooms")


class PublicRooms:
    """The running server: its ASGI app and the parts tests may inspect."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock = clock or Clock()
        cleanup, limits = settings.cleanup, settings.limits
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.state = state = build_state(
            redis_url=settings.redis_url, redis_prefix=settings.redis_prefix, clock=clock,
            connection_policy=ConnectionPolicy(
                max_per_key=limits.connections_per_ip, base_s=limits.reconnect_base_s,
                max_s=limits.reconnect_max_s, free_attempts=limits.reconnect_free_attempts,
                window_s=limits.reconnect_window_s),
            abuse_policy=AbusePolicy(threshold=limits.violations_before_block,
                                     window_s=limits.violation_window_s, block_s=limits.ip_block_s),
            limits_storage_uri=limits.storage_uri,
            heartbeat_timeout_s=settings.node_heartbeat_timeout_s,
            fanout_backlog=settings.fanout_backlog, fanout_retry_s=settings.fanout_retry_s)
        engineio_adapter.self_test()
        fanout_adapter.self_test()
        manager_adapter.self_test()
        self.sio = engineio_adapter.StrictServer(
            clock=clock, max_attachments=settings.max_attachments,
            max_attachment_bytes=settings.max_message_bytes,
            namespace_timeout_s=cleanup.namespace_connect_timeout_s,
            send_queue_max_packets=settings.send_queue_max_packets,
            send_queue_max_bytes=settings.send_queue_max_bytes,
            connection_aborter=http_adapter.connection_aborter,
            # Redis mode: the manager fans out across nodes; memory mode: in-process.
            client_manager=state.client_manager,
            # Behind a load balancer, long-polling requests must reach the node that owns their
            # session: the `io` cookie names it, and HAProxy sticks `?sid=` to that node.
            cookie="io" if state.shared else None,
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
        sql = SqlStore(create_engine(settings.resolved_database_url), sole_writer=not state.shared)
        rooms = [RoomRecord(r.id, r.name, r.capacity, i) for i, r in enumerate(settings.rooms)]
        self.broadcaster = SocketBroadcaster(self.sio, state.sessions)
        self.media = None if not settings.media.enabled else MediaService(
            settings.media, log_format=LogFormat(settings.log_level, settings.log_json))
        # Media calls go to the room's owning node (this one, in memory mode).
        self.routed_media = None if self.media is None else RoutedMedia(
            local=self.media, placement=state.placement, rpc=state.rpc,
            node_id=state.node.node_id)
        self.timers = TimerService(
            store=state.timers, records=TimerRecords(sql.engine), broadcaster=self.broadcaster,
            clock=clock, configs=timer_configs(settings.rooms))
        room_service = RoomService(
            sql=sql, seats=state.seats, holds=state.holds, locks=state.locks,
            sessions=state.sessions, broadcaster=self.broadcaster, clock=clock, rooms=rooms,
            system_capacity=settings.system_capacity, history_length=settings.history_length,
            message_max=settings.message_max, media=self.routed_media,
            admission_hold_s=cleanup.rest_seat_hold_s, rest_hold_s=cleanup.rest_seat_hold_s,
            reconnect_grace_s=cleanup.reconnect_grace_s, timers=self.timers,
            status_max=settings.status_max,
            lobby_feed=LobbyFeed(settings.lobby_update_window_s),
            chat=ChatLog(sql, window_s=settings.chat_commit_window_s,
                         max_batch=settings.chat_commit_max, across_nodes=state.shared))
        self.timers.on_change = room_service.announce_room
        self.ctx = AppContext(
            settings=settings,
            clock=clock,
            sql=sql,
            state=state,
            keyer=IpKeyer(load_secret(settings.secret, settings.data_dir)),
            resolver=ClientIpResolver(settings.trusted_proxies),
            users=UserService(sql=sql, clock=clock, display_name_max=settings.display_name_max,
                              activity=state.activity),
            rooms=room_service,
            limiter=RateLimiter(blocks=state.blocks, storage_uri=state.limits_storage_uri,
                                key_prefix=f"{settings.redis_prefix}limits"),
            abuse=AbuseMonitor(store=state.abuse, clock=clock, policy=state.abuse_policy),
            guard=ConnectionGuard(store=state.connections, max_per_key=limits.connections_per_ip),
            rules=limit_rules(limits),
            joins=Gate(settings.join_concurrency),
        )
        self._rooms = rooms
        self.registry = ConnectionRegistry(clock, state.activity.touch)
        self.gateway = Gateway(self.sio, self.ctx, self.registry)
        self.sio.on_session_open = self.gateway.session_opened
        self.sio.on_session_close = self.gateway.session_closed
        moderation_store = ModerationStore(sql.engine)
        bans = BanList(store=moderation_store, clock=clock, on_new_ban=self._enforce_ban)
        self.ctx.abuse.bans = bans
        self.moderation = ModerationService(
            store=moderation_store, sql=sql, clock=clock, bans=bans,
            kick_user=self.gateway.kick_user, seat_of=state.seats.seat_of,
            report_text_max=settings.report_text_max)
        register_lobby(self.sio, self.gateway)
        register_rooms(self.sio, self.gateway)
        register_media(self.sio, self.gateway, self.routed_media)
        register_reports(self.sio, self.gateway, self.moderation)
        self.scheduler = self._build_scheduler()
        self.cluster_jobs = self._build_cluster_jobs()
        self.api = self._build_api()
        socket_io = socketio.ASGIApp(self.sio, other_asgi_app=self.api)
        self.asgi = WebSocketsFirst(
            SecurityHeaders(BodySizeLimit(socket_io, max_bytes=settings.max_message_bytes),
                            allowed_origins=settings.allowed_origins),
            websocket=self.sio.eio.handle_request, path=socket_io.engineio_path)
        self._drained = False

    def _build_scheduler(self) -> Scheduler:
        ctx, cleanup, state = self.ctx, self.settings.cleanup, self.state
        scheduler = Scheduler(self.clock, state.leases)
        inactive = InactiveUserSweep(
            sql=ctx.sql, rooms=ctx.rooms, activity=state.activity, clock=self.clock,
            inactive_after_s=cleanup.inactive_after_s,
            disconnect_user=lambda user_id: self.gateway.disconnect_user(
                user_id, ConnectionTimeout("Disconnected after a long time without activity.")))
        health = HealthChecker(sio=self.sio, registry=self.registry, clock=self.clock,
                               idle_s=cleanup.ping_idle_s, max_missed=cleanup.ping_max_missed)
        tables = TableSweep(tables=[ctx.limiter, *state.sweepables()], flush=self.flush_events,
                            sync_records=ctx.rooms.sync_records)
        scheduler.add("inactive-users", cleanup.inactive_sweep_interval_s, inactive.run)
        # Pings go to this node's own sockets: every node checks the sockets it holds.
        scheduler.add("health-checks", cleanup.ping_interval_s, health.run, cluster=False)
        scheduler.add("seat-holds", min(1.0, max(0.05, cleanup.reconnect_grace_s / 4)),
                      ctx.rooms.release_expired_holds)
        scheduler.add("tables", cleanup.table_sweep_interval_s, tables.run)
        # One node per period ends the due phases, so each phase change is told once.
        scheduler.add("timer-phases", self.settings.timer_check_interval_s,
                      self.timers.end_phases)
        return scheduler

    def _build_cluster_jobs(self) -> Scheduler:
        """Node liveness runs on the system clock: Redis TTLs are wall-clock seconds."""
        settings, state = self.settings, self.state
        scheduler = Scheduler(Clock(), state.leases)
        scheduler.add("heartbeat", settings.node_heartbeat_interval_s, state.node.heartbeat,
                      cluster=False)
        scheduler.add("activity-flush", settings.node_heartbeat_interval_s,
                      state.activity.flush, cluster=False)
        scheduler.add("dead-nodes", settings.node_heartbeat_interval_s, self.reap_dead_nodes)
        # Every node keeps its own copy of the bans (a ban made on another node arrives here).
        scheduler.add("bans", settings.ban_refresh_interval_s, self.moderation.bans.refresh,
                      cluster=False)
        if state.shared:
            scheduler.add("reconcile", settings.node_heartbeat_interval_s,
                          self.gateway.reconcile, cluster=False)
        return scheduler

    async def _enforce_ban(self, ban) -> None:  # noqa: ANN001
        """A ban seen by this node closes this node's sockets of the banned key."""
        closed = await self.gateway.close_ip_key(ban.ip_key, ban_error(ban, self.clock.now()))
        if closed:
            log.info("banned connections closed", sockets=closed)

    async def reap_dead_nodes(self) -> int:
        """Release what nodes that stopped heartbeating held, as if their sockets dropped."""
        reaped = 0
        for node_id in await self.state.node.dead():
            sockets = await self.state.sessions.of_node(node_id)
            for user_id, socket in sockets:
                await self.state.sessions.remove(user_id, socket.sid)
            for user_id, socket in sockets:
                if socket.room_id is not None:
                    await self.ctx.rooms.socket_gone(user_id=user_id, room_id=socket.room_id,
                                                     joined=socket.joined, deliberate=False)
            await self.state.connections_of_node_gone(node_id)
            if self.routed_media is not None:
                await self.routed_media.node_gone(node_id)
            await self.state.node.forget(node_id)
            log.warning("node gone", node=node_id, sockets=len(sockets))
            reaped += 1
        return reaped

    async def flush_events(self) -> int:
        """Write pending suspicious-activity events to SQL."""
        events = await self.state.abuse.take_events()
        await self.ctx.sql.add_suspicious_events(events)
        return len(events)

    def _build_api(self) -> FastAPI:
        api = FastAPI(title="publicrooms", version="0.1.0", lifespan=self._lifespan,
                      docs_url=None, redoc_url=None,
                      description="Anonymous public study rooms: REST API. Real-time events "
                                  "are Socket.IO; see docs/protocol.md.")
        api.state.ctx = self.ctx
        api.state.server = self
        install_error_handlers(api)
        api.include_router(router)
        api.include_router(health)
        api.include_router(metrics_router)
        api.include_router(admin_router)
        mount_docs(api)  # before the page, which takes every other path
        mount_page(api)
        return api

    def table_sizes(self) -> dict[str, int]:
        """Every in-process table and its entry count (metrics, churn tests)."""
        sizes = self.state.table_sizes()
        sizes.update(self.ctx.limiter.table_sizes())
        sizes.update(self.registry.table_sizes())
        sizes.update(self.sio.table_sizes())
        sizes.update(self.gateway.table_sizes())
        return sizes

    async def startup(self) -> None:
        await migrate(self.ctx.sql.engine)
        await self.ctx.sql.sync_rooms(self._rooms, self.clock.now())
        if not self.state.shared:
            # In-process seats start empty: stale seat records would lie. Shared state is
            # other nodes' too: start-up never deletes it.
            await self.ctx.sql.clear_participants()
        await self.state.start()
        await self.timers.start_up()
        if self.routed_media is not None:
            await self.routed_media.start()
        await self.moderation.bans.refresh()
        self.scheduler.start()
        self.cluster_jobs.start()
        if self.settings.gc_freeze:
            # Long-lived start-up objects leave the GC's view, and gen-0 runs less often, which
            # removes the periodic pauses seen with thousands of sockets.
            gc.collect()
            gc.freeze()
            gc.set_threshold(self.settings.gc_gen0_threshold, 50, 100)
        log.info("server started", rooms=len(self._rooms), node=self.state.node.node_id,
                 state="redis" if self.state.shared else "memory",
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
        await self.cluster_jobs.stop()
        await asyncio.sleep(0)  # let the announcement reach the sockets' send queues
        await self.gateway.close_all()
        if self.routed_media is not None:
            await self.routed_media.stop()
        try:
            await self.flush_events()
        except Exception as exc:
            if not is_outage(exc):
                raise
            log.warning("suspicious events left in shared state", error=repr(exc))

    async def shutdown(self) -> None:
        await self.drain()
        # Sockets whose tasks were cancelled past the grace still finish their cleanup (seats,
        # sessions) before the stores below close; a cleanup that takes longer is cancelled.
        await self.gateway.cleanups_finished(self.settings.cleanup.shutdown_grace_s or 5.0)
        await self.ctx.rooms.lobby_feed.close()
        await self.state.node.leave()
        await self.state.close()
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
