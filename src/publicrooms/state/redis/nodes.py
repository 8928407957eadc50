"""Node liveness in Redis: `nodes` (set of ids) and `node:{id}` (a key whose TTL is the heartbeat)."""

from __future__ import annotations

import math

from publicrooms.clock import Clock


class RedisNodeStore:
    def __init__(self, redis, prefix: str, node_id: str, timeout_s: float,  # noqa: ANN001
                 clock: Clock | None = None) -> None:
        self._redis = redis
        self._prefix = prefix
        self.node_id = node_id
        self._timeout_s = timeout_s
        self._timeout_ms = math.ceil(timeout_s * 1000)
        # Heartbeats are Redis TTLs, so liveness is judged on the system clock.
        self._clock = clock or Clock()
        self._healthy_since: float | None = None

    async def heartbeat(self) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(f"{self._prefix}node:{self.node_id}", "1", px=self._timeout_ms)
                pipe.sadd(f"{self._prefix}nodes", self.node_id)
                await pipe.execute()
        except Exception:
            self._healthy_since = None
            raise
        if self._healthy_since is None:
            self._healthy_since = self._clock.monotonic()

    async def alive(self) -> list[str]:
        nodes = sorted(await self._redis.smembers(f"{self._prefix}nodes"))
        async with self._redis.pipeline(transaction=False) as pipe:
            for node in nodes:
                pipe.exists(f"{self._prefix}node:{node}")
            up = await pipe.execute() if nodes else []
        return [node for node, alive in zip(nodes, up) if alive]

    async def dead(self) -> list[str]:
        # Only a node that has itself reached Redis for a whole heartbeat timeout judges the
        # others: after an outage every heartbeat key may have lapsed, and the others need one
        # beat to renew theirs.
        since = self._healthy_since
        if since is None or self._clock.monotonic() - since < self._timeout_s:
            return []
        nodes = sorted(await self._redis.smembers(f"{self._prefix}nodes"))
        alive = set(await self.alive())
        return [node for node in nodes if node not in alive and node != self.node_id]

    async def forget(self, node_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.srem(f"{self._prefix}nodes", node_id)
            pipe.delete(f"{self._prefix}node:{node_id}:sess", f"{self._prefix}node:{node_id}:eio")
            await pipe.execute()

    async def leave(self) -> None:
        """A clean stop: what the node held was released on the way out."""
        try:
            await self.forget(self.node_id)
            await self._redis.delete(f"{self._prefix}node:{self.node_id}")
        except Exception:  # noqa: BLE001 - Redis away: the survivors reap us by heartbeat
            pass
