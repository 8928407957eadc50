"""Seats and the admission queue in Redis; joins and admission passes are single Lua scripts.

Keys: `seats` (hash user → seat JSON), `room:{id}` (set of seated users), `queue` (sorted set
of waiters by arrival number), `queue:entries` (hash user → wanted room and name), `queue:seq`
(arrival counter), `queue:told` (hash user → position last pushed).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from publicrooms.state.seats import Admission, QueueEntry, Seat, SeatOutcome, SeatResult

_JOIN = """
local seats, room_key, queue, entries, seq, told = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local user, room, seat, capacity, system_capacity, entry = ARGV[1], ARGV[2], ARGV[3],
  tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local current = redis.call('HGET', seats, user)
if current then
  local held = cjson.decode(current)
  if held.r == room then return {'already', current, redis.call('SCARD', room_key)} end
  return {'other', current, 0}
end
local members = redis.call('SCARD', room_key)
local queued = redis.call('ZSCORE', queue, user)
local waiting = redis.call('ZCARD', queue) - (queued and 1 or 0)
if members >= capacity and waiting == 0 then return {'full', '', members} end
if waiting > 0 or redis.call('HLEN', seats) >= system_capacity then
  if not queued then redis.call('ZADD', queue, redis.call('INCR', seq), user) end
  redis.call('HSET', entries, user, entry)
  return {'queued', '', members, redis.call('ZRANK', queue, user) + 1}
end
if queued then redis.call('ZREM', queue, user); redis.call('HDEL', entries, user) end
redis.call('HDEL', told, user)
redis.call('HSET', seats, user, seat)
redis.call('SADD', room_key, user)
return {'seated', seat, members + 1}
"""

_ADMIT = """
local seats, queue, entries, told = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, joined, system_capacity = ARGV[1], ARGV[2], tonumber(ARGV[3])
local capacities = cjson.decode(ARGV[4])
local total = redis.call('HLEN', seats)
local out = {}
for _, user in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
  if total >= system_capacity then break end
  local raw = redis.call('HGET', entries, user)
  local entry = raw and cjson.decode(raw)
  local capacity = entry and capacities[entry.r]
  if not capacity or redis.call('HEXISTS', seats, user) == 1 then
    redis.call('ZREM', queue, user); redis.call('HDEL', entries, user); redis.call('HDEL', told, user)
  else
    local room_key = prefix .. 'room:' .. entry.r
    local members = redis.call('SCARD', room_key)
    if members < capacity then
      redis.call('ZREM', queue, user); redis.call('HDEL', entries, user); redis.call('HDEL', told, user)
      local seat = cjson.encode({r = entry.r, n = entry.n, j = joined, a = false, v = false})
      redis.call('HSET', seats, user, seat)
      redis.call('SADD', room_key, user)
      total = total + 1
      table.insert(out, seat)
      table.insert(out, user)
      table.insert(out, members + 1)
    end
  end
end
return out
"""

_RELEASE = """
local current = redis.call('HGET', KEYS[1], ARGV[2])
if not current then return false end
local seat = cjson.decode(current)
if ARGV[3] ~= '' and seat.r ~= ARGV[3] then return false end
local room_key = ARGV[1] .. 'room:' .. seat.r
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('SREM', room_key, ARGV[2])
return {current, redis.call('SCARD', room_key)}
"""

_SET_MEDIA = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return false end
local seat = cjson.decode(current)
seat[ARGV[2]] = ARGV[3] == '1'
local encoded = cjson.encode(seat)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return encoded
"""

_SET_STATUS = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return false end
local seat = cjson.decode(current)
if ARGV[2] == '' then seat.s = nil else seat.s = ARGV[2] end
local encoded = cjson.encode(seat)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return encoded
"""

_LEAVE_QUEUE = """
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
"""

_POSITIONS_TO_TELL = """
local out = {}
for index, user in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local position = tostring(index)
  if redis.call('HGET', KEYS[2], user) ~= position then
    redis.call('HSET', KEYS[2], user, position)
    table.insert(out, user)
    table.insert(out, redis.call('HGET', KEYS[3], user) or '')
    table.insert(out, index)
  end
end
return out
"""


def _stamp(moment: datetime) -> str:
    return repr(moment.timestamp())


def _seat(user_id: str, raw: str) -> Seat:
    data = json.loads(raw)
    return Seat(room_id=data["r"], user_id=user_id, display_name=data["n"],
                joined_at=datetime.fromtimestamp(float(data["j"]), timezone.utc),
                is_audio_enabled=bool(data.get("a")), is_video_enabled=bool(data.get("v")),
                status=data.get("s") or None)


def _encode(seat: Seat) -> str:
    data = {"r": seat.room_id, "n": seat.display_name, "j": _stamp(seat.joined_at),
            "a": seat.is_audio_enabled, "v": seat.is_video_enabled}
    if seat.status:
        data["s"] = seat.status
    return json.dumps(data)


class RedisSeatStore:
    def __init__(self, redis, prefix: str) -> None:  # noqa: ANN001
        self._redis = redis
        self._prefix = prefix
        self._seats = f"{prefix}seats"
        self._queue = f"{prefix}queue"
        self._entries = f"{prefix}queue:entries"
        self._seq = f"{prefix}queue:seq"
        self._told = f"{prefix}queue:told"
        self._join = redis.register_script(_JOIN)
        self._admit = redis.register_script(_ADMIT)
        self._release = redis.register_script(_RELEASE)
        self._set_media = redis.register_script(_SET_MEDIA)
        self._set_status = redis.register_script(_SET_STATUS)
        self._leave_queue = redis.register_script(_LEAVE_QUEUE)
        self._positions_to_tell = redis.register_script(_POSITIONS_TO_TELL)

    def _room(self, room_id: str) -> str:
        return f"{self._prefix}room:{room_id}"

    async def join(self, seat: Seat, *, capacity: int, system_capacity: int) -> SeatResult:
        reply = await self._join(
            keys=[self._seats, self._room(seat.room_id), self._queue, self._entries, self._seq,
                  self._told],
            args=[seat.user_id, seat.room_id, _encode(seat), capacity, system_capacity,
                  json.dumps({"r": seat.room_id, "n": seat.display_name})])
        kind, raw, occupancy = reply[0], reply[1], int(reply[2])
        held = _seat(seat.user_id, raw) if raw else None
        match kind:
            case "seated":
                return SeatResult(SeatOutcome.SEATED, held, occupancy)
            case "already":
                return SeatResult(SeatOutcome.ALREADY_SEATED, held, occupancy)
            case "other":
                return SeatResult(SeatOutcome.IN_OTHER_ROOM, held, occupancy)
            case "full":
                return SeatResult(SeatOutcome.ROOM_FULL, None, occupancy)
        return SeatResult(SeatOutcome.QUEUED, None, occupancy, int(reply[3]))

    async def admit(self, *, capacities: dict[str, int], system_capacity: int,
                    now: datetime) -> list[Admission]:
        reply = await self._admit(
            keys=[self._seats, self._queue, self._entries, self._told],
            args=[self._prefix, _stamp(now), system_capacity, json.dumps(capacities)])
        return [Admission(_seat(reply[i + 1], reply[i]), int(reply[i + 2]))
                for i in range(0, len(reply), 3)]

    async def release(self, user_id: str, room_id: str | None = None) -> tuple[Seat, int] | None:
        reply = await self._release(keys=[self._seats], args=[self._prefix, user_id, room_id or ""])
        if not reply:
            return None
        return _seat(user_id, reply[0]), int(reply[1])

    async def seat_of(self, user_id: str) -> Seat | None:
        raw = await self._redis.hget(self._seats, user_id)
        return None if raw is None else _seat(user_id, raw)

    async def seats(self, room_id: str) -> list[Seat]:
        users = sorted(await self._redis.smembers(self._room(room_id)))
        if not users:
            return []
        raws = await self._redis.hmget(self._seats, users)
        seats = [_seat(user, raw) for user, raw in zip(users, raws) if raw is not None]
        return sorted(seats, key=lambda s: s.joined_at)

    async def occupancy(self, room_id: str) -> int:
        return int(await self._redis.scard(self._room(room_id)))

    async def occupancies(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for raw in await self._redis.hvals(self._seats):
            room_id = json.loads(raw)["r"]
            counts[room_id] = counts.get(room_id, 0) + 1
        return counts

    async def total(self) -> int:
        return int(await self._redis.hlen(self._seats))

    async def set_media(self, user_id: str, kind: str, enabled: bool) -> Seat | None:
        raw = await self._set_media(keys=[self._seats],
                                    args=[user_id, "v" if kind == "video" else "a",
                                          "1" if enabled else "0"])
        return None if not raw else _seat(user_id, raw)

    async def set_status(self, user_id: str, status: str | None) -> Seat | None:
        raw = await self._set_status(keys=[self._seats], args=[user_id, status or ""])
        return None if not raw else _seat(user_id, raw)

    async def cameras_on(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for raw in await self._redis.hvals(self._seats):
            data = json.loads(raw)
            if data.get("v"):
                counts[data["r"]] = counts.get(data["r"], 0) + 1
        return counts

    async def leave_queue(self, user_id: str) -> bool:
        return bool(await self._leave_queue(keys=[self._queue, self._entries, self._told],
                                            args=[user_id]))

    async def position(self, user_id: str) -> int | None:
        rank = await self._redis.zrank(self._queue, user_id)
        return None if rank is None else rank + 1

    async def queue(self) -> list[QueueEntry]:
        users = await self._redis.zrange(self._queue, 0, -1)
        if not users:
            return []
        raws = await self._redis.hmget(self._entries, users)
        entries = []
        for user, raw in zip(users, raws):
            if raw is not None:
                data = json.loads(raw)
                entries.append(QueueEntry(user, data["r"], data["n"]))
        return entries

    async def queue_length(self) -> int:
        return int(await self._redis.zcard(self._queue))

    async def positions_to_tell(self) -> list[tuple[QueueEntry, int]]:
        flat = await self._positions_to_tell(keys=[self._queue, self._told, self._entries])
        told = []
        for i in range(0, len(flat), 3):
            if flat[i + 1]:
                data = json.loads(flat[i + 1])
                told.append((QueueEntry(flat[i], data["r"], data["n"]), int(flat[i + 2])))
        return told
