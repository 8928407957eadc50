"""Holds, blocks, leases and locks in Redis: one key (or one sorted set) each."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from publicrooms.clock import Clock

_TAKE_EXPIRED = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due
"""


def _ttl_ms(seconds: float) -> int:
    # A second of slack: the stored deadline decides, the TTL only collects what is left.
    return max(1, math.ceil(seconds * 1000)) + 1000


class RedisHoldStore:
    """`holds`: a sorted set of user ids scored by their wall-clock deadline."""

    def __init__(self, redis, prefix: str, clock: Clock) -> None:  # noqa: ANN001
        self._redis = redis
        self._key = f"{prefix}holds"
        self._clock = clock
        self._take = redis.register_script(_TAKE_EXPIRED)

    async def hold(self, user_id: str, seconds: float) -> None:
        await self._redis.zadd(self._key, {user_id: self._clock.time() + seconds})

    async def unhold(self, user_id: str) -> None:
        await self._redis.zrem(self._key, user_id)

    async def holding(self, user_id: str) -> bool:
        return await self._redis.zscore(self._key, user_id) is not None

    async def take_expired(self) -> list[str]:
        return list(await self._take(keys=[self._key], args=[repr(self._clock.time())]))


class RedisBlockStore:
    """`block:{rule}:{key}` holds the block's wall-clock end, with a TTL just past it."""

    def __init__(self, redis, prefix: str, clock: Clock) -> None:  # noqa: ANN001
        self._redis = redis
        self._prefix = f"{prefix}block:"
        self._clock = clock

    async def block(self, rule: str, key: str, seconds: float) -> None:
        await self._redis.set(f"{self._prefix}{rule}:{key}", repr(self._clock.time() + seconds),
                              px=_ttl_ms(seconds))

    async def blocked_for(self, rule: str, key: str) -> float:
        until = await self._redis.get(f"{self._prefix}{rule}:{key}")
        if until is None:
            return 0.0
        return max(0.0, float(until) - self._clock.time())


class RedisLeaseStore:
    """`lease:{job}:{period}`: the first node to SET NX runs that period."""

    def __init__(self, redis, prefix: str, node_id: str) -> None:  # noqa: ANN001
        self._redis = redis
        self._prefix = f"{prefix}lease:"
        self._node_id = node_id

    async def claim(self, job: str, period: int, ttl_s: float) -> bool:
        return bool(await self._redis.set(f"{self._prefix}{job}:{period}", self._node_id,
                                          nx=True, px=math.ceil(ttl_s * 1000)))


class RedisLockStore:
    """redis-py's Lock (token + compare-and-delete), expiring after 10 s if its holder dies."""

    def __init__(self, redis, prefix: str, timeout_s: float = 10.0) -> None:  # noqa: ANN001
        self._redis = redis
        self._prefix = f"{prefix}lock:"
        self._timeout_s = timeout_s

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._redis.lock(f"{self._prefix}{key}", timeout=self._timeout_s, sleep=0.005,
                                blocking_timeout=self._timeout_s)
        if not await lock.acquire():
            from publicrooms.errors import TemporarilyUnavailable

            raise TemporarilyUnavailable(retry_after_s=1)
        try:
            yield
        finally:
            try:
                await lock.release()
            except Exception:  # noqa: BLE001 - expired meanwhile, or Redis went away
                pass
