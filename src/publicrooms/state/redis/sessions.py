"""Sessions in Redis: `sess:{user}` (hash sid → socket JSON) and `node:{id}:sess` (its sockets)."""

from __future__ import annotations

import json

from publicrooms.state.sessions import SocketRef

_SET_JOINED = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local socket = cjson.decode(raw)
socket.j = ARGV[2] == '1'
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(socket))
return 1
"""

_UNJOIN_ROOM = """
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local socket = cjson.decode(all[i + 1])
  if socket.r == ARGV[1] and socket.j then
    socket.j = false
    redis.call('HSET', KEYS[1], all[i], cjson.encode(socket))
  end
end
return 1
"""

_OF_NODE = """
local out = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local sep = string.find(member, ' ', 1, true)
  local user, sid = string.sub(member, 1, sep - 1), string.sub(member, sep + 1)
  local raw = redis.call('HGET', ARGV[1] .. 'sess:' .. user, sid)
  if raw then table.insert(out, user); table.insert(out, sid); table.insert(out, raw) end
end
return out
"""


def _encode(socket: SocketRef) -> str:
    return json.dumps({"ns": socket.namespace, "r": socket.room_id, "node": socket.node,
                       "j": socket.joined})


def _decode(sid: str, raw: str) -> SocketRef:
    data = json.loads(raw)
    return SocketRef(sid=sid, namespace=data["ns"], room_id=data.get("r"), node=data["node"],
                     joined=bool(data.get("j")))


class RedisSessionStore:
    def __init__(self, redis, prefix: str) -> None:  # noqa: ANN001
        self._redis = redis
        self._prefix = prefix
        self._set_joined = redis.register_script(_SET_JOINED)
        self._unjoin_room = redis.register_script(_UNJOIN_ROOM)
        self._of_node = redis.register_script(_OF_NODE)

    def _user(self, user_id: str) -> str:
        return f"{self._prefix}sess:{user_id}"

    def _node(self, node: str) -> str:
        return f"{self._prefix}node:{node}:sess"

    async def bind(self, user_id: str, socket: SocketRef) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._user(user_id), socket.sid, _encode(socket))
            pipe.sadd(self._node(socket.node), f"{user_id} {socket.sid}")
            await pipe.execute()

    async def set_joined(self, user_id: str, sid: str, joined: bool) -> None:
        await self._set_joined(keys=[self._user(user_id)], args=[sid, "1" if joined else "0"])

    async def unjoin_room(self, user_id: str, room_id: str) -> None:
        await self._unjoin_room(keys=[self._user(user_id)], args=[room_id])

    async def remove(self, user_id: str, sid: str) -> None:
        raw = await self._redis.hget(self._user(user_id), sid)
        if raw is None:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._user(user_id), sid)
            pipe.srem(self._node(_decode(sid, raw).node), f"{user_id} {sid}")
            await pipe.execute()

    async def sockets(self, user_id: str) -> list[SocketRef]:
        return [_decode(sid, raw)
                for sid, raw in (await self._redis.hgetall(self._user(user_id))).items()]

    async def of_node(self, node: str) -> list[tuple[str, SocketRef]]:
        flat = await self._of_node(keys=[self._node(node)], args=[self._prefix])
        return [(flat[i], _decode(flat[i + 1], flat[i + 2])) for i in range(0, len(flat), 3)]
