"""Live Socket.IO connections of this process: who is behind each sid."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Connection:
    sid: str
    namespace: str
    ip_key: str
    room_id: str | None = None
    user_id: str | None = None
    # Set once the socket took (or resumed) a seat through join-room.
    joined: bool = False
    extra: dict = field(default_factory=dict)


class ConnectionRegistry:
    """sid → Connection, plus who is seated through which sockets."""

    def __init__(self) -> None:
        self._by_sid: dict[str, Connection] = {}
        self._sids_by_user: dict[str, set[str]] = {}

    def add(self, connection: Connection) -> None:
        self._by_sid[connection.sid] = connection

    def get(self, sid: str) -> Connection | None:
        return self._by_sid.get(sid)

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

    def sids_of_user(self, user_id: str) -> set[str]:
        return set(self._sids_by_user.get(user_id, ()))

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
        return {"connections": len(self._by_sid), "users": len(self._sids_by_user)}
