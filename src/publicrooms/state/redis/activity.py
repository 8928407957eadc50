"""Activity in Redis: each node buffers per event and flushes once a beat to the `activity` hash."""

from __future__ import annotations

from datetime import datetime, timezone

from publicrooms.clock import Clock

# Keeps the later time when two nodes report the same user.
_FLUSH = """
for i = 1, #ARGV, 2 do
  local seen = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > seen then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
"""

WRITE_THROUGH_S = 10.0

_TAKE = """
local all = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return all
"""


class RedisActivityStore:
    def __init__(self, redis, prefix: str, clock: Clock) -> None:  # noqa: ANN001
        self._redis = redis
        self._key = f"{prefix}activity"
        self._clock = clock
        self._last: dict[str, float] = {}
        self._written: dict[str, float] = {}  # user → when last written through
        self._flush = redis.register_script(_FLUSH)
        self._take = redis.register_script(_TAKE)

    async def touch(self, user_id: str) -> None:
        now = self._clock.time()
        self._last[user_id] = now
        if now - self._written.get(user_id, float("-inf")) >= WRITE_THROUGH_S:
            # Written through now and then, so whichever node sweeps sees recent activity
            # without waiting for this node's next flush.
            self._written[user_id] = now
            await self._flush(keys=[self._key], args=[user_id, repr(now)])

    async def flush(self) -> None:
        cutoff = self._clock.time() - WRITE_THROUGH_S
        self._written = {u: t for u, t in self._written.items() if t > cutoff}
        if not self._last:
            return
        taken, self._last = self._last, {}
        args: list[str] = []
        for user_id, when in taken.items():
            args += [user_id, repr(when)]
        try:
            await self._flush(keys=[self._key], args=args)
        except Exception:
            # Redis is away: keep what we had (newer touches win) for the next beat.
            for user_id, when in taken.items():
                if self._last.get(user_id, 0.0) < when:
                    self._last[user_id] = when
            raise

    async def take(self) -> dict[str, datetime]:
        await self.flush()
        flat = await self._take(keys=[self._key])
        return {flat[i]: datetime.fromtimestamp(float(flat[i + 1]), timezone.utc)
                for i in range(0, len(flat), 2)}

    async def forget(self, user_id: str) -> None:
        self._last.pop(user_id, None)
        self._written.pop(user_id, None)
        await self._redis.hdel(self._key, user_id)

    def table_sizes(self) -> dict[str, int]:
        return {"activity": len(self._last), "activity_written": len(self._written)}
