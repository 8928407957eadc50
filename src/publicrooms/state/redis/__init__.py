"""The Redis implementation of every state port: many nodes behave as one server.

Each invariant that spans several keys is one Lua script (atomic in Redis). Deadlines are
wall-clock seconds from the injected clock, shared by every node; keys also carry a Redis TTL
so nothing outlives its purpose even if no node sweeps it.
"""

from __future__ import annotations

from publicrooms.clock import Clock
from publicrooms.state.abuse import AbusePolicy
from publicrooms.state.connections import ConnectionPolicy


def connection_pool(url: str, *, decode_responses: bool = True):  # noqa: ANN201
    """A bounded pool: under a burst, requests wait (up to 10 s) for a connection rather than
    fail; while Redis is unreachable, they fail within seconds, not minutes."""
    from redis.asyncio import BlockingConnectionPool

    return BlockingConnectionPool.from_url(
        url, max_connections=64, timeout=10, decode_responses=decode_responses,
        socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=5)


def redis_client(url: str):  # noqa: ANN201
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ConstantBackoff

    return aioredis.Redis(connection_pool=connection_pool(url),
                          retry=Retry(ConstantBackoff(0.05), 1))


def redis_state(*, url: str, prefix: str, clock: Clock, connection_policy: ConnectionPolicy,
                abuse_policy: AbusePolicy, heartbeat_timeout_s: float, node_id: str,
                fanout_backlog: int, fanout_retry_s: float):  # noqa: ANN201
    from publicrooms.state import State
    from publicrooms.state.redis.abuse import RedisAbuseStore
    from publicrooms.state.redis.activity import RedisActivityStore
    from publicrooms.state.redis.connections import RedisConnectionStore
    from publicrooms.state.redis.fanout import client_manager
    from publicrooms.state.redis.nodes import RedisNodeStore
    from publicrooms.state.redis.seats import RedisSeatStore
    from publicrooms.state.redis.sessions import RedisSessionStore
    from publicrooms.state.redis.simple import (
        RedisBlockStore,
        RedisHoldStore,
        RedisLeaseStore,
        RedisLockStore,
    )

    from publicrooms.state.redis.placement import RedisPlacement
    from publicrooms.state.redis.rpc import RedisRpc
    from publicrooms.state.redis.timers import RedisTimerStore

    redis = redis_client(url)
    return State(
        placement=RedisPlacement(redis, prefix),
        rpc=RedisRpc(url, redis, prefix, node_id),
        seats=RedisSeatStore(redis, prefix),
        holds=RedisHoldStore(redis, prefix, clock),
        locks=RedisLockStore(redis, prefix),
        blocks=RedisBlockStore(redis, prefix, clock),
        connections=RedisConnectionStore(redis, prefix, clock, connection_policy, node_id),
        abuse=RedisAbuseStore(redis, prefix, clock, abuse_policy),
        activity=RedisActivityStore(redis, prefix, clock),
        sessions=RedisSessionStore(redis, prefix),
        timers=RedisTimerStore(redis, prefix),
        leases=RedisLeaseStore(redis, prefix, node_id),
        node=RedisNodeStore(redis, prefix, node_id, heartbeat_timeout_s),
        limits_storage_uri=_limits_uri(url),
        abuse_policy=abuse_policy,
        client_manager=client_manager(url, prefix, backlog=fanout_backlog,
                                      retry_s=fanout_retry_s),
        shared=True,
        redis=redis,
    )


def _limits_uri(url: str) -> str:
    """The `limits` library's async Redis storage on the same server."""
    for scheme in ("redis://", "rediss://", "unix://"):
        if url.startswith(scheme):
            return f"async+{url}"
    return f"async+{url}"
