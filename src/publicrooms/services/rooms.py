"""Rooms: the lobby, seats (join/leave), camera and microphone flags, chat."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from publicrooms.clock import Clock
from publicrooms.errors import (
    AlreadyInRoom,
    InvalidRequest,
    NotInRoom,
    RoomFull,
    RoomNotFound,
    SystemAtCapacity,
)
from publicrooms.schemas.rooms import (
    JoinResponse,
    MessageRead,
    ParticipantRead,
    RoomRead,
    UserRead,
)
from publicrooms.security.sanitize import clean_message
from publicrooms.services.admission import AdmissionQueue
from publicrooms.services.broadcast import Broadcaster
from publicrooms.services.locks import KeyedLocks
from publicrooms.services.media import MediaPort, NoMedia
from publicrooms.services.views import iso, message_view, participant_view, room_view
from publicrooms.store.presence import PresenceStore, Seat, SeatOutcome
from publicrooms.store.sql import RoomRecord, SqlStore, UserRecord


log = structlog.get_logger("publicrooms.rooms")


@dataclass(frozen=True, slots=True)
class JoinResult:
    room: RoomRead
    participants: list[ParticipantRead]
    recent_messages: list[MessageRead]
    seated_now: bool
    media: list[dict]


class RoomService:
    def __init__(self, *, sql: SqlStore, presence: PresenceStore, broadcaster: Broadcaster,
                 clock: Clock, rooms: list[RoomRecord], system_capacity: int,
                 history_length: int, message_max: int,
                 queue: AdmissionQueue | None = None, media: MediaPort | None = None,
                 admission_hold_s: float = 30.0) -> None:
        self._sql = sql
        self._presence = presence
        self._broadcaster = broadcaster
        self._clock = clock
        self._rooms = {room.id: room for room in rooms}
        self._system_capacity = system_capacity
        self._history_length = history_length
        self._message_max = message_max
        # Seat changes for one user are serialised so the SQL record follows presence exactly.
        self._user_locks = KeyedLocks()
        self.queue = queue or AdmissionQueue()
        self.media: MediaPort = media or NoMedia()
        self._admission_hold_s = admission_hold_s
        self._admission_lock = asyncio.Lock()
        # user id → monotonic deadline: seats nobody's socket holds are released at the deadline.
        self._holds: dict[str, float] = {}

    def room(self, room_id: str) -> RoomRecord:
        room = self._rooms.get(room_id)
        if room is None:
            raise RoomNotFound()
        return room

    async def room_read(self, room_id: str) -> RoomRead:
        room = self.room(room_id)
        return room_view(room.id, room.name, room.capacity,
                         await self._presence.occupancy(room.id))

    async def list_rooms(self) -> list[RoomRead]:
        occupancy = await self._presence.occupancies()
        return [room_view(r.id, r.name, r.capacity, occupancy.get(r.id, 0))
                for r in sorted(self._rooms.values(), key=lambda r: r.position)]

    async def participants(self, room_id: str) -> list[ParticipantRead]:
        self.room(room_id)
        return [participant_view(seat) for seat in await self._presence.seats(room_id)]

    async def join_room(self, *, room_id: str, user: UserRecord,
                        skip_sid: str | None = None) -> JoinResult:
        """Take a seat (or keep the one already held here) and say so to the room and lobby.

        When the system is full, or others already wait, the user joins the queue instead and
        SYSTEM_AT_CAPACITY carries the position.
        """
        room = self.room(room_id)
        queued = False
        async with self._user_locks.hold(user.id):
            current = await self._presence.seat_of(user.id)
            if current is None and len(self.queue) > 0:
                # Others wait already: a free seat is theirs first.
                self.queue.enqueue(user.id, room.id, user.display_name)
                queued = True
            else:
                result = await self._presence.take_seat(
                    Seat(room_id=room.id, user_id=user.id, display_name=user.display_name,
                         joined_at=self._clock.now()),
                    capacity=room.capacity, system_capacity=self._system_capacity,
                )
                match result.outcome:
                    case SeatOutcome.IN_OTHER_ROOM:
                        raise AlreadyInRoom(details={"roomId": result.seat.room_id})
                    case SeatOutcome.ROOM_FULL:
                        raise RoomFull()
                    case SeatOutcome.SYSTEM_FULL:
                        self.queue.enqueue(user.id, room.id, user.display_name)
                        queued = True
                    case SeatOutcome.SEATED:
                        await self._sql.add_participant(room_id=room.id, user_id=user.id,
                                                        joined_at=result.seat.joined_at)
        if queued:
            await self.admit_waiting()
            seat = await self._presence.seat_of(user.id)
            if seat is None or seat.room_id != room.id:
                raise SystemAtCapacity(retry_after_s=5, details={
                    "position": self.queue.position(user.id), "roomId": room.id})
            seated_now = False  # admitted just now: admit_waiting has announced it
        else:
            seated_now = result.outcome is SeatOutcome.SEATED
        if seated_now:
            await self._broadcaster.to_room(room.id, "user-joined", self._joined_event(
                result.seat, result.occupancy), skip_sid=skip_sid)
            await self._announce_occupancy(room, result.occupancy)
        messages = await self._sql.recent_messages(room.id, self._history_length)
        occupancy = await self._presence.occupancy(room.id)
        return JoinResult(
            room=room_view(room.id, room.name, room.capacity, occupancy),
            participants=await self.participants(room.id),
            recent_messages=[message_view(m) for m in messages],
            seated_now=seated_now,
            media=self.media.room_media(room.id),
        )

    def join_response(self, result: JoinResult, user: UserRecord) -> JoinResponse:
        """The answer to a join, the same over REST and Socket.IO."""
        return JoinResponse(room=result.room, participants=result.participants,
                            recent_messages=result.recent_messages,
                            self_=UserRead(user_id=user.id, display_name=user.display_name),
                            media=result.media, media_config=self.media.client_config())

    async def admit_waiting(self) -> list[str]:
        """Seat queued users, first come first served, while seats are free; tell everyone."""
        admitted: list[tuple[Seat, int]] = []
        async with self._admission_lock:
            for entry in self.queue.entries():
                room = self._rooms.get(entry.room_id)
                if room is None:
                    self.queue.remove(entry.user_id)
                    continue
                async with self._user_locks.hold(entry.user_id):
                    result = await self._presence.take_seat(
                        Seat(room_id=room.id, user_id=entry.user_id,
                             display_name=entry.display_name, joined_at=self._clock.now()),
                        capacity=room.capacity, system_capacity=self._system_capacity,
                    )
                    if result.outcome is SeatOutcome.SYSTEM_FULL:
                        break
                    if result.outcome is SeatOutcome.ROOM_FULL:
                        continue  # waits for its own room; later entries may still fit theirs
                    self.queue.remove(entry.user_id)
                    if result.outcome is SeatOutcome.SEATED:
                        await self._sql.add_participant(room_id=room.id, user_id=entry.user_id,
                                                        joined_at=result.seat.joined_at)
                        admitted.append((result.seat, result.occupancy))
        for seat, occupancy in admitted:
            # The seat is reserved until the admitted user's socket claims it (or the hold ends).
            self.hold(seat.user_id, self._admission_hold_s)
            await self._broadcaster.to_room(seat.room_id, "user-joined",
                                            self._joined_event(seat, occupancy))
            await self._announce_occupancy(self._rooms[seat.room_id], occupancy)
            await self._broadcaster.to_user(seat.room_id, seat.user_id, "queue-admitted",
                                            {"roomId": seat.room_id})
        await self._announce_positions()
        return [seat.user_id for seat, _ in admitted]

    async def leave_queue(self, *, user_id: str) -> bool:
        """Stop waiting for a seat."""
        if self.queue.remove(user_id) is None:
            return False
        await self._announce_positions()
        return True

    async def _announce_positions(self) -> None:
        for position, entry in enumerate(self.queue.entries(), start=1):
            if entry.notified_position != position:
                entry.notified_position = position
                await self._broadcaster.to_user(entry.room_id, entry.user_id,
                                                "queue-position-changed",
                                                {"position": position, "roomId": entry.room_id})

    def _joined_event(self, seat: Seat, occupancy: int) -> dict:
        return {"userId": seat.user_id, "userName": seat.display_name,
                "joinedAt": iso(seat.joined_at), "currentOccupancy": occupancy,
                "isVideoEnabled": seat.is_video_enabled, "isAudioEnabled": seat.is_audio_enabled}

    # seat holds ----------------------------------------------------------------------------

    def hold(self, user_id: str, seconds: float) -> None:
        """Keep the user's seat for `seconds` without a socket; then it is released."""
        self._holds[user_id] = self._clock.monotonic() + seconds

    def unhold(self, user_id: str) -> None:
        self._holds.pop(user_id, None)

    def holding(self, user_id: str) -> bool:
        return user_id in self._holds

    async def release_expired_holds(self, has_socket: Callable[[str, str], bool]) -> int:
        """Release seats whose hold ran out and that no socket claimed; returns how many."""
        now = self._clock.monotonic()
        released = 0
        for user_id, deadline in list(self._holds.items()):
            if deadline > now:
                continue
            self._holds.pop(user_id, None)
            seat = await self._presence.seat_of(user_id)
            if seat is not None and not has_socket(user_id, seat.room_id):
                released += await self.leave_room(user_id=user_id, room_id=seat.room_id)
        return released

    async def leave_room(self, *, user_id: str, room_id: str | None = None) -> bool:
        """Give up the user's seat (in `room_id`, if named); False when there was none."""
        async with self._user_locks.hold(user_id):
            seat = await self._presence.seat_of(user_id)
            if seat is None or (room_id is not None and seat.room_id != room_id):
                return False
            released = await self._presence.release_seat(user_id)
            if released is None:
                return False
            seat, occupancy = released
            self._holds.pop(user_id, None)
            await self._sql.remove_participant(user_id=user_id)
        try:
            await self.media.close_participant(seat.room_id, user_id)
        except Exception:
            log.exception("closing media failed", room_id=seat.room_id)
        await self._broadcaster.detach(seat.room_id, user_id)
        await self._broadcaster.to_room(seat.room_id, "user-left",
                                        {"userId": user_id, "currentOccupancy": occupancy})
        await self._announce_occupancy(self.room(seat.room_id), occupancy)
        if len(self.queue):
            await self.admit_waiting()
        return True

    async def seated_in(self, *, user_id: str, room_id: str) -> Seat:
        seat = await self._presence.seat_of(user_id)
        if seat is None or seat.room_id != room_id:
            raise NotInRoom()
        return seat

    async def toggle_media(self, *, room_id: str, user_id: str, kind: str, enabled: bool,
                           skip_sid: str | None = None) -> None:
        """Switch a participant's camera or microphone flag and tell the room."""
        if kind not in ("audio", "video"):
            raise InvalidRequest("kind must be audio or video")
        await self.seated_in(user_id=user_id, room_id=room_id)
        async with self._user_locks.hold(user_id):
            seat = await self._presence.set_media(user_id, kind, enabled)
            if seat is None:
                raise NotInRoom()
            await self._sql.set_participant_media(user_id=user_id, kind=kind, enabled=enabled)
            # Forwarding follows the flag: a camera switched off is not sent to anyone.
            await self.media.set_muted(room_id, user_id, kind, not enabled)
        await self._broadcaster.to_room(room_id, f"participant-{kind}-toggle",
                                        {"userId": user_id, "enabled": enabled},
                                        skip_sid=skip_sid)

    async def send_message(self, *, room_id: str, user_id: str, content: object) -> MessageRead:
        """Persist a chat message and broadcast it to the whole room, sender included."""
        seat = await self.seated_in(user_id=user_id, room_id=room_id)
        text = clean_message(content, self._message_max)
        record = await self._sql.add_message(room_id=room_id, user_id=user_id,
                                             sender_name=seat.display_name, content=text,
                                             created_at=self._clock.now())
        message = message_view(record)
        await self._broadcaster.to_room(room_id, "new-message",
                                        {"roomId": room_id, "message": message.wire()})
        return message

    async def _announce_occupancy(self, room: RoomRecord, occupancy: int) -> None:
        await self._broadcaster.to_lobby("room-occupancy-update", {
            "roomId": room.id, "currentOccupancy": occupancy, "capacity": room.capacity,
            "isFull": occupancy >= room.capacity,
        })
