"""Every piece of live state behind one seam: in memory (one process) or in Redis (many).

`build_state` is called once, by create_app: no Redis URL means memory, exactly the single-process
behaviour; a Redis URL means every port below lives in Redis and the nodes behave as one server.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from publicrooms.clock import Clock
from publicrooms.state.abuse import AbusePolicy, AbuseStore, MemoryAbuseStore
from publicrooms.state.activity import ActivityStore, MemoryActivityStore
from publicrooms.state.blocks import BlockStore, MemoryBlockStore
from publicrooms.state.connections import ConnectionPolicy, ConnectionStore, MemoryConnectionStore
from publicrooms.state.holds import HoldStore, MemoryHoldStore
from publicrooms.state.leases import LeaseStore, MemoryLeaseStore
from publicrooms.state.locks import LockStore, MemoryLockStore
from publicrooms.state.nodes import LocalNode, NodeStore
from publicrooms.state.placement import LocalPlacement, PlacementStore
from publicrooms.state.rpc import LocalRpc, NodeRpc
from publicrooms.state.seats import MemorySeatStore, SeatStore
from publicrooms.state.sessions import MemorySessionStore, SessionStore
from publicrooms.state.timers import MemoryTimerStore, TimerStore


@dataclass
class State:
    """The ports; each service is handed only the ones it uses."""

    seats: SeatStore
    holds: HoldStore
    locks: LockStore
    blocks: BlockStore
    connections: ConnectionStore
    abuse: AbuseStore
    activity: ActivityStore
    sessions: SessionStore
    leases: LeaseStore
    node: NodeStore
    placement: PlacementStore
    rpc: NodeRpc
    timers: TimerStore
    limits_storage_uri: str
    abuse_policy: AbusePolicy
    # python-socketio client manager for cross-node fan-out (None: the in-process default).
    client_manager: Any = None
    shared: bool = False
    redis: Any = field(default=None, repr=False)

    def table_sizes(self) -> dict[str, int]:
        """Entry counts of the in-process tables (a Redis-backed port has none)."""
        sizes: dict[str, int] = {}
        for part in (self.seats, self.holds, self.locks, self.blocks, self.connections,
                     self.abuse, self.activity, self.sessions, self.timers):
            table_sizes = getattr(part, "table_sizes", None)
            if table_sizes is not None:
                sizes.update(table_sizes())
        return sizes

    def sweepables(self) -> list[Any]:
        """In-process tables that the table sweep must trim (Redis expires its own)."""
        return [part for part in (self.blocks, self.connections, self.abuse)
                if hasattr(part, "sweep")]

    async def start(self) -> None:
        """Announce this node (its first heartbeat)."""
        await self.node.heartbeat()

    async def ping(self) -> None:
        """Raise if shared state is unreachable (readiness)."""
        if self.redis is not None:
            await self.redis.ping()

    async def connections_of_node_gone(self, node_id: str) -> None:
        await self.connections.release_node(node_id)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def new_node_id() -> str:
    return uuid.uuid4().hex[:12]


def memory_state(*, clock: Clock, connection_policy: ConnectionPolicy,
                 abuse_policy: AbusePolicy, limits_storage_uri: str) -> State:
    node_id = new_node_id()
    return State(
        seats=MemorySeatStore(), holds=MemoryHoldStore(clock), locks=MemoryLockStore(),
        blocks=MemoryBlockStore(clock),
        connections=MemoryConnectionStore(clock, connection_policy),
        abuse=MemoryAbuseStore(clock, abuse_policy), activity=MemoryActivityStore(clock),
        sessions=MemorySessionStore(), leases=MemoryLeaseStore(), node=LocalNode(node_id),
        placement=LocalPlacement(node_id), rpc=LocalRpc(), timers=MemoryTimerStore(),
        limits_storage_uri=limits_storage_uri, abuse_policy=abuse_policy,
    )


def build_state(*, redis_url: str | None, redis_prefix: str, clock: Clock,
                connection_policy: ConnectionPolicy, abuse_policy: AbusePolicy,
                limits_storage_uri: str, heartbeat_timeout_s: float,
                fanout_backlog: int = 10_000, fanout_retry_s: float = 0.5) -> State:
    """Memory without a Redis URL; Redis for all of it with one."""
    if not redis_url:
        return memory_state(clock=clock, connection_policy=connection_policy,
                            abuse_policy=abuse_policy, limits_storage_uri=limits_storage_uri)
    from publicrooms.state.redis import redis_state

    return redis_state(url=redis_url, prefix=redis_prefix, clock=clock,
                       connection_policy=connection_policy, abuse_policy=abuse_policy,
                       heartbeat_timeout_s=heartbeat_timeout_s, node_id=new_node_id(),
                       fanout_backlog=fanout_backlog, fanout_retry_s=fanout_retry_s)


__all__ = ["State", "build_state", "memory_state", "AbusePolicy", "ConnectionPolicy",
           "AbuseStore", "ActivityStore", "BlockStore", "ConnectionStore", "HoldStore",
           "LeaseStore", "LockStore", "NodeStore", "SeatStore", "SessionStore", "TimerStore"]
