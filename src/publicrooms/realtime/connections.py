"""Live Socket.IO connections of this process: who is behind each sid, and when they last spoke."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from publicrooms.clock import Clock


@dataclass(slots=True)
class Connection:
    sid: str
    namespace: str
    ip_key: str
    eio_sid: str
    room_id: str | None = None
    user_id: str | None = None
    # Set once the socket took (or resumed) a seat through join-room.
    joined: bool = False
    last_activity: float = 0.0
    missed_pings: int = 0


class ConnectionRegistry:
    """sid → Connection, plus which sockets each user has."""

    def __init__(self, clock: Clock, on_user_activity: Callable[[str], Awaitable[None]]) -> None:
        self._clock = clock
        self._on_user_activity = on_user_activity
        self._by_sid: dict[str, Connection] = {}
        self._sids_by_user: dict[str, set[str]] = {}

    def add(self, connection: Connection) -> None:
        connection.last_activity = self._clock.monotonic()
        self._by_sid[connection.sid] = connection

    def get(self, sid: str) -> Connection | None:
        return self._by_sid.get(sid)

    def all(self) -> list[Connection]:
        return list(self._by_sid.values())

    async def touch(self, sid: str) -> None:
        """The client said something: it is alive and its user is active."""
        connection = self._by_sid.get(sid)
        if connection is None:
            return
        connection.last_activity = self._clock.monotonic()
        connection.missed_pings = 0
        if connection.user_id is not None:
            await self._on_user_activity(connection.user_id)

    def bind_user(self, sid: str, user_id: str) -> None:
        connection = self._by_sid[sid]
        if connection.user_id and connection.user_id != user_id:
            self._unbind(connection)
        connection.user_id = user_id
        self._sids_by_user.setdefault(user_id, set()).add(sid)

    def remove(self, sid: str) -> Connection | None:
        connection = self._by_sid.pop(sid, None)
        if connection is not None:
            self._unbind(connection)
        return connection

    def sids_of_user(self, user_id: str) -> list[Connection]:
        return [self._by_sid[sid] for sid in self._sids_by_user.get(user_id, ())
                if sid in self._by_sid]

    def joined_sids(self, user_id: str, room_id: str) -> list[str]:
        return [sid for sid in self._sids_by_user.get(user_id, ())
                if (c := self._by_sid.get(sid)) and c.room_id == room_id and c.joined]

    def _unbind(self, connection: Connection) -> None:
        if connection.user_id is None:
            return
        sids = self._sids_by_user.get(connection.user_id)
        if sids is not None:
            sids.discard(connection.sid)
            if not sids:
                del self._sids_by_user[connection.user_id]

    def __len__(self) -> int:
        return len(self._by_sid)

    def table_sizes(self) -> dict[str, int]:
        return {"connections": len(self._by_sid), "users_connected": len(self._sids_by_user)}
