"""Seats and the admission queue: who sits in which room, who waits, atomically together.

One port because the invariants span both: a join takes a seat only within the room's and the
system's capacity and only when nobody waits already; an admission pass seats waiters in
arrival order, each exactly once.
"""

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
    status: str | None = None  # "working on…", cleared with the seat


class SeatOutcome(enum.Enum):
    SEATED = "seated"
    ALREADY_SEATED = "already-seated"   # same room: joining again is idempotent
    IN_OTHER_ROOM = "in-other-room"
    ROOM_FULL = "room-full"
    QUEUED = "queued"                   # system full, or others wait already


@dataclass(frozen=True, slots=True)
class SeatResult:
    outcome: SeatOutcome
    seat: Seat | None
    occupancy: int
    position: int | None = None         # in the queue, when QUEUED


@dataclass(slots=True)
class QueueEntry:
    user_id: str
    room_id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class Admission:
    """A waiter seated by an admission pass."""

    seat: Seat
    occupancy: int


class SeatStore(Protocol):
    """Every method is atomic: a room never exceeds its capacity nor the system its capacity."""

    async def join(self, seat: Seat, *, capacity: int, system_capacity: int) -> SeatResult:
        """Seat the user, or queue them (system full or others waiting), or say why not."""
    async def admit(self, *, capacities: dict[str, int], system_capacity: int,
                    now: datetime) -> list[Admission]:
        """Seat waiters in arrival order while seats are free; a full room skips its waiter."""
    async def release(self, user_id: str, room_id: str | None = None) -> tuple[Seat, int] | None:
        """Free the user's seat (only in `room_id`, if named): the seat and the new occupancy."""
    async def seat_of(self, user_id: str) -> Seat | None: ...
    async def seats(self, room_id: str) -> list[Seat]: ...
    async def occupancy(self, room_id: str) -> int: ...
    async def occupancies(self) -> dict[str, int]: ...
    async def total(self) -> int: ...
    async def set_media(self, user_id: str, kind: str, enabled: bool) -> Seat | None: ...
    async def set_status(self, user_id: str, status: str | None) -> Seat | None: ...
    async def cameras_on(self) -> dict[str, int]:
        """Seats with the camera on, per room."""
    async def leave_queue(self, user_id: str) -> bool: ...
    async def position(self, user_id: str) -> int | None: ...
    async def queue(self) -> list[QueueEntry]: ...
    async def queue_length(self) -> int: ...
    async def positions_to_tell(self) -> list[tuple[QueueEntry, int]]:
        """Waiters whose position changed since they were last told, marked as told now."""


class MemorySeatStore:
    """Single-process seats; no method awaits, so each is atomic."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, Seat]] = {}
        self._by_user: dict[str, Seat] = {}
        # dicts keep insertion order: iteration order is the queue order.
        self._queue: dict[str, QueueEntry] = {}
        self._told: dict[str, int] = {}

    async def join(self, seat: Seat, *, capacity: int, system_capacity: int) -> SeatResult:
        current = self._by_user.get(seat.user_id)
        members = self._rooms.get(seat.room_id, {})
        if current is not None:
            outcome = (SeatOutcome.ALREADY_SEATED if current.room_id == seat.room_id
                       else SeatOutcome.IN_OTHER_ROOM)
            return SeatResult(outcome, current, len(self._rooms.get(current.room_id, {})))
        waiting = [key for key in self._queue if key != seat.user_id]
        if len(members) >= capacity and not waiting:
            return SeatResult(SeatOutcome.ROOM_FULL, None, len(members))
        if waiting or len(self._by_user) >= system_capacity:
            entry = self._queue.get(seat.user_id)
            if entry is None:
                self._queue[seat.user_id] = QueueEntry(seat.user_id, seat.room_id,
                                                       seat.display_name)
            else:
                entry.room_id, entry.display_name = seat.room_id, seat.display_name
            return SeatResult(SeatOutcome.QUEUED, None, len(members),
                              self._position(seat.user_id))
        self._queue.pop(seat.user_id, None)
        self._told.pop(seat.user_id, None)
        return SeatResult(SeatOutcome.SEATED, self._sit(seat), len(self._rooms[seat.room_id]))

    async def admit(self, *, capacities: dict[str, int], system_capacity: int,
                    now: datetime) -> list[Admission]:
        admitted: list[Admission] = []
        for entry in list(self._queue.values()):
            if len(self._by_user) >= system_capacity:
                break
            capacity = capacities.get(entry.room_id)
            if capacity is None or entry.user_id in self._by_user:
                self._queue.pop(entry.user_id, None)
                self._told.pop(entry.user_id, None)
                continue
            if len(self._rooms.get(entry.room_id, {})) >= capacity:
                continue  # waits for its own room; later entries may still fit theirs
            self._queue.pop(entry.user_id, None)
            self._told.pop(entry.user_id, None)
            seat = self._sit(Seat(entry.room_id, entry.user_id, entry.display_name, now))
            admitted.append(Admission(seat, len(self._rooms[entry.room_id])))
        return admitted

    def _sit(self, seat: Seat) -> Seat:
        self._rooms.setdefault(seat.room_id, {})[seat.user_id] = seat
        self._by_user[seat.user_id] = seat
        return seat

    async def release(self, user_id: str, room_id: str | None = None) -> tuple[Seat, int] | None:
        seat = self._by_user.get(user_id)
        if seat is None or (room_id is not None and seat.room_id != room_id):
            return None
        del self._by_user[user_id]
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

    async def set_status(self, user_id: str, status: str | None) -> Seat | None:
        seat = self._by_user.get(user_id)
        if seat is None:
            return None
        seat = replace(seat, status=status)
        self._by_user[user_id] = seat
        self._rooms[seat.room_id][user_id] = seat
        return seat

    async def cameras_on(self) -> dict[str, int]:
        return {room_id: sum(seat.is_video_enabled for seat in members.values())
                for room_id, members in self._rooms.items()}

    async def leave_queue(self, user_id: str) -> bool:
        self._told.pop(user_id, None)
        return self._queue.pop(user_id, None) is not None

    def _position(self, user_id: str) -> int | None:
        for index, key in enumerate(self._queue, start=1):
            if key == user_id:
                return index
        return None

    async def position(self, user_id: str) -> int | None:
        return self._position(user_id)

    async def queue(self) -> list[QueueEntry]:
        return list(self._queue.values())

    async def queue_length(self) -> int:
        return len(self._queue)

    async def positions_to_tell(self) -> list[tuple[QueueEntry, int]]:
        changed = []
        for position, entry in enumerate(self._queue.values(), start=1):
            if self._told.get(entry.user_id) != position:
                self._told[entry.user_id] = position
                changed.append((entry, position))
        return changed

    def table_sizes(self) -> dict[str, int]:
        return {"rooms": len(self._rooms), "seats": len(self._by_user),
                "queue": len(self._queue), "queue_told": len(self._told)}
