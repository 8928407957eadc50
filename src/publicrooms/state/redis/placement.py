"""Media placement in Redis: `media:{room}` → owning node, `node:{id}:media` → its rooms."""

from __future__ import annotations

_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if owner then return owner end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return ARGV[1]
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

_RELEASE_NODE = """
local rooms = redis.call('SMEMBERS', KEYS[1])
local released = {}
for _, room in ipairs(rooms) do
  local key = ARGV[1] .. 'media:' .. room
  if redis.call('GET', key) == ARGV[2] then
    redis.call('DEL', key)
    table.insert(released, room)
  end
end
redis.call('DEL', KEYS[1])
return released
"""


class RedisPlacement:
    def __init__(self, redis, prefix: str) -> None:  # noqa: ANN001
        self._redis = redis
        self._prefix = prefix
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._release_node = redis.register_script(_RELEASE_NODE)

    def _keys(self, room_id: str, node_id: str) -> list[str]:
        return [f"{self._prefix}media:{room_id}", f"{self._prefix}node:{node_id}:media"]

    async def claim(self, room_id: str, node_id: str) -> str:
        return await self._claim(keys=self._keys(room_id, node_id), args=[node_id, room_id])

    async def owner(self, room_id: str) -> str | None:
        return await self._redis.get(f"{self._prefix}media:{room_id}")

    async def release(self, room_id: str, node_id: str) -> None:
        await self._release(keys=self._keys(room_id, node_id), args=[node_id, room_id])

    async def release_node(self, node_id: str) -> list[str]:
        return list(await self._release_node(keys=[f"{self._prefix}node:{node_id}:media"],
                                             args=[self._prefix, node_id]))
