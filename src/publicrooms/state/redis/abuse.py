"""Violation windows, IP blocks and the suspicious-event outbox in Redis.

Keys: `viol:{ip key}` (sorted set of violation times, with a TTL of the window),
`ipblock:{ip key}` (the block's end, with a TTL just past it), `suspicious` (list of events
waiting to be written to SQL, capped).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from publicrooms.clock import Clock
from publicrooms.state.abuse import AbusePolicy, SuspiciousEvent

_EVENTS_CAP = 100_000

_RECORD = """
local viol, block, events = KEYS[1], KEYS[2], KEYS[3]
local now, window, threshold, block_s = tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('RPUSH', events, ARGV[5])
redis.call('LTRIM', events, -tonumber(ARGV[7]), -1)
redis.call('ZADD', viol, now, ARGV[6])
redis.call('ZREMRANGEBYSCORE', viol, '-inf', now - window)
redis.call('PEXPIRE', viol, math.ceil(window * 1000) + 1000)
if redis.call('ZCARD', viol) >= threshold and redis.call('EXISTS', block) == 0 then
  redis.call('SET', block, tostring(now + block_s), 'PX', math.ceil(block_s * 1000) + 1000)
  redis.call('DEL', viol)
  return 1
end
return 0
"""


def _encode(event: SuspiciousEvent) -> str:
    ip_key, kind, detail, when = event
    return json.dumps([ip_key, kind, detail, when.isoformat()])


class RedisAbuseStore:
    def __init__(self, redis, prefix: str, clock: Clock, policy: AbusePolicy) -> None:  # noqa: ANN001
        self._redis = redis
        self._prefix = prefix
        self._events = f"{prefix}suspicious"
        self._clock = clock
        self._policy = policy
        self._record = redis.register_script(_RECORD)

    async def record(self, ip_key: str, event: SuspiciousEvent) -> bool:
        p, policy = self._prefix, self._policy
        return bool(await self._record(
            keys=[f"{p}viol:{ip_key}", f"{p}ipblock:{ip_key}", self._events],
            args=[repr(self._clock.time()), policy.window_s, policy.threshold, policy.block_s,
                  _encode(event), uuid.uuid4().hex, _EVENTS_CAP]))

    async def add_event(self, event: SuspiciousEvent) -> None:
        await self._redis.rpush(self._events, _encode(event))

    async def blocked_for(self, ip_key: str) -> float:
        until = await self._redis.get(f"{self._prefix}ipblock:{ip_key}")
        if until is None:
            return 0.0
        return max(0.0, float(until) - self._clock.time())

    async def take_events(self, limit: int = 1000) -> list[SuspiciousEvent]:
        raws = await self._redis.lpop(self._events, limit) or []
        events = []
        for raw in raws:
            ip_key, kind, detail, when = json.loads(raw)
            events.append((ip_key, kind, detail, datetime.fromisoformat(when)))
        return events
