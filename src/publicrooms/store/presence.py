"""Live presence: who sits in which room right now. In memory here; Redis behind the same interface."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Seat:
    room_id: str
    user_id: str
    display_name: str
    joined_at: datetime
    is_audio_enabled: bool = False
    is_video_enabled: bool = False


class SeatOutcome(enum.Enum):
    SEATED = "seated"
    ALREADY_SEATED = "already-seated"   # same room: joining again is idempotent
    IN_OTHER_ROOM = "in-other-room"
    ROOM_FULL = "room-full"
    SYSTEM_FULL = "system-full"


@dataclass(frozen=True, slots=True)
class SeatResult:
    outcome: SeatOutcome
    seat: Seat | None
    occupancy: int


class PresenceStore(Protocol):
    """Seats, atomically: a room never exceeds its capacity nor the system its capacity."""

    async def take_seat(self, seat: Seat, *, capacity: int, system_capacity: int) -> SeatResult: ...
    async def release_seat(self, user_id: str) -> tuple[Seat, int] | None: ...
    async def seat_of(self, user_id: str) -> Seat | None: ...
    async def seats(self, room_id: str) -> list[Seat]: ...
    async def occupancy(self, room_id: str) -> int: ...
    async def occupancies(self) -> dict[str, int]: ...
    async def total(self) -> int: ...
    async def set_media(self, user_id: str, kind: str, enabled: bool) -> Seat | None: ...
    async def all_seats(self) -> list[Seat]: ...


class MemoryPresenceStore:
    """Single-process presence; each method runs without awaiting, so each is atomic."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, Seat]] = {}
        self._by_user: dict[str, Seat] = {}

    async def take_seat(self, seat: Seat, *, capacity: int, system_capacity: int) -> SeatResult:
        current = self._by_user.get(seat.user_id)
        members = self._rooms.get(seat.room_id, {})
        if current is not None:
            outcome = (SeatOutcome.ALREADY_SEATED if current.room_id == seat.room_id
                       else SeatOutcome.IN_OTHER_ROOM)
            return SeatResult(outcome, current, len(members))
        if len(members) >= capacity:
            return SeatResult(SeatOutcome.ROOM_FULL, None, len(members))
        if len(self._by_user) >= system_capacity:
            return SeatResult(SeatOutcome.SYSTEM_FULL, None, len(members))
        members = self._rooms.setdefault(seat.room_id, {})
        members[seat.user_id] = seat
        self._by_user[seat.user_id] = seat
        return SeatResult(SeatOutcome.SEATED, seat, len(members))

    async def release_seat(self, user_id: str) -> tuple[Seat, int] | None:
        seat = self._by_user.pop(user_id, None)
        if seat is None:
            return None
        members = self._rooms.get(seat.room_id, {})
        members.pop(user_id, None)
        if not members:
            self._rooms.pop(seat.room_id, None)
        return seat, len(members)

    async def seat_of(self, user_id: str) -> Seat | None:
        return self._by_user.get(user_id)

    async def seats(self, room_id: str) -> list[Seat]:
        return sorted(self._rooms.get(room_id, {}).values(), key=lambda s: s.joined_at)

    async def occupancy(self, room_id: str) -> int:
        return len(self._rooms.get(room_id, {}))

    async def occupancies(self) -> dict[str, int]:
        return {room_id: len(members) for room_id, members in self._rooms.items()}

    async def total(self) -> int:
        return len(self._by_user)

    async def set_media(self, user_id: str, kind: str, enabled: bool) -> Seat | None:
        seat = self._by_user.get(user_id)
        if seat is None:
            return None
        field = "is_video_enabled" if kind == "video" else "is_audio_enabled"
        seat = replace(seat, **{field: enabled})
        self._by_user[user_id] = seat
        self._rooms[seat.room_id][user_id] = seat
        return seat

    async def all_seats(self) -> list[Seat]:
        return list(self._by_user.values())

    def table_sizes(self) -> dict[str, int]:
        """Entry counts of every table (for churn tests and metrics)."""
        return {"rooms": len(self._rooms), "seats": len(self._by_user)}
