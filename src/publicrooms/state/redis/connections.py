"""Connection counts and reconnect backoff in Redis, admitted by one Lua script.

Keys: `eio` / `eio:n` / `eio:node` (hashes: Engine.IO sid → IP key / namespaces open / node),
`conn:{ip key}` (set of its Engine.IO sids), `reconn:{ip key}` (sorted set of recent attempts),
`reconn-wait:{ip key}` (earliest next connection, with a TTL), `node:{id}:eio` (a node's sids).
"""

from __future__ import annotations

from publicrooms.clock import Clock
from publicrooms.state.connections import Admit, ConnectionPolicy

_ADMIT = """
local eio, eio_n, eio_node, conn, attempts, wait_key, node_set =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local sid, ip, now, max_per_key, base, max_wait, free, window, node =
  ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
if redis.call('HEXISTS', eio, sid) == 1 then
  redis.call('HINCRBY', eio_n, sid, 1)
  return {'ok', '0'}
end
local next_allowed = tonumber(redis.call('GET', wait_key) or '0')
if now < next_allowed then return {'wait', tostring(next_allowed - now)} end
if redis.call('SCARD', conn) >= max_per_key then return {'too-many', '0'} end
redis.call('ZREMRANGEBYSCORE', attempts, '-inf', now - window)
redis.call('ZADD', attempts, now, sid)
redis.call('PEXPIRE', attempts, math.ceil(window * 1000) + 1000)
local excess = redis.call('ZCARD', attempts) - free
if excess > 0 then
  local wait = math.min(max_wait, base * 2 ^ (excess - 1))
  redis.call('SET', wait_key, tostring(now + wait), 'PX', math.ceil(wait * 1000) + 1000)
end
redis.call('HSET', eio, sid, ip)
redis.call('HSET', eio_n, sid, 1)
redis.call('HSET', eio_node, sid, node)
redis.call('SADD', conn, sid)
redis.call('SADD', node_set, sid)
return {'ok', '0'}
"""

# Releases one namespace (ARGV[3] = '1': the whole Engine.IO connection) of each sid given.
_RELEASE = """
local eio, eio_n, eio_node = KEYS[1], KEYS[2], KEYS[3]
local prefix, whole = ARGV[1], ARGV[2] == '1'
for i = 3, #ARGV do
  local sid = ARGV[i]
  local ip = redis.call('HGET', eio, sid)
  if ip then
    local left = 0
    if not whole then left = redis.call('HINCRBY', eio_n, sid, -1) end
    if left <= 0 then
      local node = redis.call('HGET', eio_node, sid)
      redis.call('HDEL', eio, sid); redis.call('HDEL', eio_n, sid); redis.call('HDEL', eio_node, sid)
      redis.call('SREM', prefix .. 'conn:' .. ip, sid)
      if node then redis.call('SREM', prefix .. 'node:' .. node .. ':eio', sid) end
    end
  end
end
return 1
"""


class RedisConnectionStore:
    def __init__(self, redis, prefix: str, clock: Clock, policy: ConnectionPolicy,  # noqa: ANN001
                 node_id: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        self._policy = policy
        self._node_id = node_id
        self._hashes = [f"{prefix}eio", f"{prefix}eio:n", f"{prefix}eio:node"]
        self._admit = redis.register_script(_ADMIT)
        self._release = redis.register_script(_RELEASE)

    async def admit(self, ip_key: str, eio_sid: str) -> Admit:
        p, policy = self._prefix, self._policy
        kind, wait = await self._admit(
            keys=[*self._hashes, f"{p}conn:{ip_key}", f"{p}reconn:{ip_key}",
                  f"{p}reconn-wait:{ip_key}", f"{p}node:{self._node_id}:eio"],
            args=[eio_sid, ip_key, repr(self._clock.time()), policy.max_per_key, policy.base_s,
                  policy.max_s, policy.free_attempts, policy.window_s, self._node_id])
        if kind == "ok":
            return Admit(True)
        if kind == "too-many":
            return Admit(False, too_many=True)
        return Admit(False, wait_s=float(wait))

    async def release(self, eio_sid: str) -> None:
        await self._release(keys=self._hashes, args=[self._prefix, "0", eio_sid])

    async def open_connections(self, ip_key: str) -> int:
        return int(await self._redis.scard(f"{self._prefix}conn:{ip_key}"))

    async def keep_only(self, node_id: str, is_live) -> int:  # noqa: ANN001
        members = await self._redis.smembers(f"{self._prefix}node:{node_id}:eio")
        stale = [sid for sid in members if not is_live(sid)]
        for start in range(0, len(stale), 500):
            await self._release(keys=self._hashes,
                                args=[self._prefix, "1", *stale[start:start + 500]])
        return len(stale)

    async def release_node(self, node_id: str) -> None:
        node_set = f"{self._prefix}node:{node_id}:eio"
        sids = list(await self._redis.smembers(node_set))
        for start in range(0, len(sids), 500):
            await self._release(keys=self._hashes,
                                args=[self._prefix, "1", *sids[start:start + 500]])
        await self._redis.delete(node_set)
