"""`/metrics`: Prometheus text exposition of live counts, read from the running parts at scrape."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

router = APIRouter()


class _Snapshot:
    """A one-scrape collector over values gathered just before."""

    def __init__(self, families: list) -> None:  # noqa: ANN001
        self._families = families

    def collect(self):  # noqa: ANN201
        yield from self._families


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    app = request.app.state.server
    ctx = app.ctx
    occupancy = GaugeMetricFamily("publicrooms_room_occupancy", "Seated participants per room",
                                  labels=["room"])
    counts = await ctx.state.seats.occupancies()
    for room in await ctx.rooms.list_rooms():
        occupancy.add_metric([room.id], counts.get(room.id, 0))
    seats = GaugeMetricFamily("publicrooms_seats", "Seated participants in the system",
                              value=await ctx.state.seats.total())
    queue = GaugeMetricFamily("publicrooms_queue_length", "Joins waiting for a seat",
                              value=await ctx.state.seats.queue_length())
    joining = GaugeMetricFamily("publicrooms_joins_in_progress",
                                "Joins being served (at most PUBLICROOMS_JOIN_CONCURRENCY)",
                                value=ctx.joins.inside)
    join_waiting = GaugeMetricFamily("publicrooms_joins_waiting",
                                     "Joins waiting their turn to be served", value=ctx.joins.waiting)
    sockets = GaugeMetricFamily("publicrooms_socket_connections", "Open Socket.IO connections",
                                value=len(app.registry))
    tables = GaugeMetricFamily("publicrooms_table_entries", "Entries per in-memory table",
                               labels=["table"])
    for name, size in app.table_sizes().items():
        tables.add_metric([name], size)
    violations = CounterMetricFamily("publicrooms_abuse_violations", "Abuse-limit violations",
                                     labels=["kind"])
    for kind, count in ctx.abuse.counts.items():
        violations.add_metric([kind], count)
    runs = CounterMetricFamily("publicrooms_job_runs", "Scheduled job runs", labels=["job"])
    failures = CounterMetricFamily("publicrooms_job_failures", "Scheduled job failures",
                                   labels=["job"])
    for job in app.scheduler.jobs.values():
        runs.add_metric([job.name], job.runs)
        failures.add_metric([job.name], job.failures)
    moderation = []
    for action, count in app.moderation.counts.items():
        moderation.append(CounterMetricFamily(f"publicrooms_moderation_{action}",
                                              f"Moderation: {action} on this node", value=count))
    bans = GaugeMetricFamily("publicrooms_bans_active", "Operator bans in force",
                             value=len(app.moderation.bans))
    copies = CounterMetricFamily("publicrooms_broadcast_copies",
                                 "Broadcast copies written straight to a WebSocket or queued",
                                 labels=["path"])
    copies.add_metric(["direct"], getattr(app.sio.manager, "direct_copies", 0))
    copies.add_metric(["queued"], getattr(app.sio.manager, "queued_copies", 0))
    cork = getattr(app.sio.manager, "_cork", None)
    writes = CounterMetricFamily("publicrooms_broadcast_writes",
                                 "Transport writes carrying the direct copies (one per socket "
                                 "and loop turn)", value=cork.writes if cork else 0)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot([occupancy, seats, queue, joining, join_waiting, sockets, tables,
                                 violations, runs, failures, *moderation, bans, copies, writes]))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
