"""Fakes at the seams: an in-memory SQL store and a recording broadcaster, for unit tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from publicrooms.store.sql import MessageRecord, UserRecord


class RecordingBroadcaster:
    def __init__(self) -> None:
        self.room_events: list[tuple[str, str, dict[str, Any]]] = []
        self.lobby_events: list[tuple[str, dict[str, Any]]] = []
        self.user_events: list[tuple[str, str, str, dict[str, Any]]] = []

    async def to_room(self, room_id: str, event: str, data: dict[str, Any], *,
                      except_user: str | None = None) -> None:
        self.room_events.append((room_id, event, data))

    async def to_rooms_in_order(self, event: str, sends: list[tuple[str, dict[str, Any]]]) -> None:
        self.room_events.extend((room_id, event, data) for room_id, data in sends)

    async def to_lobby(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.lobby_events.extend(events)

    async def to_user(self, room_id: str, user_id: str, event: str,
                      data: dict[str, Any]) -> None:
        self.user_events.append((room_id, user_id, event, data))

    async def user_left(self, room_id: str, user_id: str, occupancy: int) -> None:
        self.room_events.append((room_id, "user-left",
                                 {"userId": user_id, "currentOccupancy": occupancy}))


class FakeSqlStore:
    """The SqlStore methods the services call, kept in dicts."""

    def __init__(self) -> None:
        self.users: dict[str, UserRecord] = {}
        self.participants: dict[str, tuple[str, datetime]] = {}
        self.messages: list[MessageRecord] = []

    async def upsert_user(self, *, ip_key: str, display_name: str, now: datetime) -> UserRecord:
        for user in self.users.values():
            if user.ip_key == ip_key:
                updated = UserRecord(user.id, ip_key, display_name, user.created_at, now)
                self.users[user.id] = updated
                return updated
        user = UserRecord(str(uuid.uuid4()), ip_key, display_name, now, now)
        self.users[user.id] = user
        return user

    async def get_user(self, user_id: str) -> UserRecord | None:
        return self.users.get(user_id)

    async def get_user_by_ip_key(self, ip_key: str) -> UserRecord | None:
        return next((u for u in self.users.values() if u.ip_key == ip_key), None)

    async def add_participant(self, *, room_id: str, user_id: str, joined_at: datetime) -> None:
        self.participants.setdefault(user_id, (room_id, joined_at))

    async def remove_participant(self, *, user_id: str) -> None:
        self.participants.pop(user_id, None)

    async def set_participant_media(self, *, user_id: str, kind: str, enabled: bool) -> None:
        return None

    async def add_message(self, *, room_id: str, user_id: str, sender_name: str, content: str,
                          created_at: datetime) -> MessageRecord:
        record = MessageRecord(str(uuid.uuid4()), room_id, user_id, sender_name, content,
                               created_at)
        self.messages.append(record)
        return record

    async def recent_messages(self, room_id: str, limit: int) -> list[MessageRecord]:
        return [m for m in self.messages if m.room_id == room_id][-limit:]
