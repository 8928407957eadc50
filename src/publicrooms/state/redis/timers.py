"""Room timers in Redis: `timers`, a hash room → timer JSON; a change is one compare-and-set script.

One entry per configured room (a fixed-size key): it is the room's timer for as long as the
room exists, so it carries no TTL.
"""

from __future__ import annotations

from publicrooms.state.timers import TimerState

_REPLACE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  if ARGV[2] == '' or cjson.decode(current).version ~= tonumber(ARGV[2]) then return 0 end
elseif ARGV[2] ~= '' then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


class RedisTimerStore:
    def __init__(self, redis, prefix: str) -> None:  # noqa: ANN001
        self._redis = redis
        self._key = f"{prefix}timers"
        self._replace = redis.register_script(_REPLACE)

    async def get(self, room_id: str) -> TimerState | None:
        raw = await self._redis.hget(self._key, room_id)
        return None if raw is None else TimerState.decode(raw)

    async def replace(self, room_id: str, expected_version: int | None,
                      state: TimerState) -> bool:
        expected = "" if expected_version is None else str(expected_version)
        return bool(await self._replace(keys=[self._key],
                                        args=[room_id, expected, state.encode()]))

    async def all(self) -> dict[str, TimerState]:
        return {room: TimerState.decode(raw)
                for room, raw in (await self._redis.hgetall(self._key)).items()}
