"""Rooms: the lobby, seats (join/leave/holds), the queue, camera and microphone flags, chat.

One use case per action, the same for REST and Socket.IO; socket ids never reach this module
(the broadcaster is told about users, and maps them to sockets itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import structlog

from publicrooms.clock import Clock
from publicrooms.errors import (
    is_outage,
    AlreadyInRoom,
    InvalidRequest,
    NotInRoom,
    RoomFull,
    RoomNotFound,
    SystemAtCapacity,
)
from publicrooms.ids import new_time_ordered_uuid
from publicrooms.schemas.base import EncodedWire
from publicrooms.schemas.rooms import (
    JoinResponse,
    ParticipantRead,
    RoomRead,
    UserRead,
)
from publicrooms.schemas.timer import TimerRead
from publicrooms.security.sanitize import clean_message
from publicrooms.services.broadcast import Broadcaster
from publicrooms.services.chatlog import ChatLog
from publicrooms.services.lobby_feed import Change, Events, LobbyFeed
from publicrooms.services.media import MediaPort, NoMedia
from publicrooms.services.timer import TimerService
from publicrooms.services.views import (
    iso,
    message_view,
    message_wire,
    participant_entry,
    participant_view,
    recent_message_entry,
    room_view,
)
from publicrooms.state.holds import HoldStore
from publicrooms.state.locks import LockStore
from publicrooms.state.seats import Admission, Seat, SeatOutcome, SeatStore
from publicrooms.state.sessions import SessionStore
from publicrooms.store.sql import MessageRecord, RoomRecord, SqlStore, UserRecord

log = structlog.get_logger("publicrooms.rooms")
OCCUPANCY = "occupancy"  # a lobby change that moved a room's count (not only its card)


@dataclass(frozen=True, slots=True)
class JoinResult:
    room: RoomRead
    seats: list[Seat]
    messages: list[MessageRecord]
    seated_now: bool
    media: list[dict]
    timer: TimerRead | None = None


class RoomService:
    def __init__(self, *, sql: SqlStore, seats: SeatStore, holds: HoldStore, locks: LockStore,
                 sessions: SessionStore, broadcaster: Broadcaster, clock: Clock,
                 rooms: list[RoomRecord], system_capacity: int, history_length: int,
                 message_max: int, media: MediaPort | None = None,
                 admission_hold_s: float = 30.0, rest_hold_s: float = 30.0,
                 reconnect_grace_s: float = 10.0, timers: TimerService | None = None,
                 status_max: int = 80, chat: ChatLog | None = None,
                 lobby_feed: LobbyFeed | None = None) -> None:
        self._sql = sql
        self._chat = chat or ChatLog(sql)
        self._chat.announce = self._announce_messages
        self._seats = seats
        self._holds = holds
        # Seat changes for one user are serialised so the SQL record follows the seat exactly.
        self._locks = locks
        self._sessions = sessions
        self._broadcaster = broadcaster
        self._clock = clock
        self._rooms = {room.id: room for room in rooms}
        self._capacities = {room.id: room.capacity for room in rooms}
        self._system_capacity = system_capacity
        self._history_length = history_length
        self._message_max = message_max
        self.media: MediaPort = media or NoMedia()
        self._admission_hold_s = admission_hold_s
        self._rest_hold_s = rest_hold_s
        self._reconnect_grace_s = reconnect_grace_s
        self.timers = timers
        self._status_max = status_max
        self.lobby_feed = lobby_feed or LobbyFeed(0)

    def room(self, room_id: str) -> RoomRecord:
        room = self._rooms.get(room_id)
        if room is None:
            raise RoomNotFound()
        return room

    async def room_read(self, room_id: str) -> RoomRead:
        room = self.room(room_id)
        seats = await self._seats.seats(room.id)
        return room_view(room.id, room.name, room.capacity, len(seats),
                         cameras_on=sum(seat.is_video_enabled for seat in seats),
                         timer=await self.timer_read(room.id))

    async def timer_read(self, room_id: str) -> TimerRead | None:
        if self.timers is None:
            return None
        return self.timers.view(room_id, await self.timers.timer(room_id))

    async def list_rooms(self) -> list[RoomRead]:
        """Every room, as the lobby cards show them: people, cameras on, the timer."""
        occupancy = await self._seats.occupancies()
        cameras = await self._seats.cameras_on()
        timers = await self.timers.timers() if self.timers is not None else {}
        return [room_view(r.id, r.name, r.capacity, occupancy.get(r.id, 0),
                          cameras_on=cameras.get(r.id, 0),
                          timer=self.timers.view(r.id, timers[r.id]) if r.id in timers else None)
                for r in sorted(self._rooms.values(), key=lambda r: r.position)]

    async def participants(self, room_id: str) -> list[ParticipantRead]:
        self.room(room_id)
        return [participant_view(seat) for seat in await self._seats.seats(room_id)]

    # join ----------------------------------------------------------------------------------

    async def join_room(self, *, room_id: str, user: UserRecord, by_socket: bool) -> JoinResult:
        """Take a seat (or keep the one already held here) and say so to the room and lobby.

        When the system is full, or others already wait, the user joins the queue instead and
        SYSTEM_AT_CAPACITY carries the position. A seat taken over REST is held for the socket
        that normally follows; a socket's join claims the seat.
        """
        room = self.room(room_id)
        async with self._locks.hold(f"user:{user.id}"):
            result = await self._seats.join(
                Seat(room_id=room.id, user_id=user.id, display_name=user.display_name,
                     joined_at=self._clock.now()),
                capacity=room.capacity, system_capacity=self._system_capacity)
            if result.outcome is SeatOutcome.SEATED:
                try:
                    await self._sql.add_participant(room_id=room.id, user_id=user.id,
                                                    joined_at=result.seat.joined_at)
                except BaseException:
                    # Nothing half-applied: without its record the seat is given back.
                    await self._seats.release(user.id, room.id)
                    raise
        match result.outcome:
            case SeatOutcome.IN_OTHER_ROOM:
                raise AlreadyInRoom(details={"roomId": result.seat.room_id})
            case SeatOutcome.ROOM_FULL:
                raise RoomFull()
            case SeatOutcome.QUEUED:
                await self.admit_waiting()
                seat = await self._seats.seat_of(user.id)
                if seat is None or seat.room_id != room.id:
                    raise SystemAtCapacity(retry_after_s=5, details={
                        "position": await self._seats.position(user.id), "roomId": room.id})
        seated_now = result.outcome is SeatOutcome.SEATED
        if by_socket:
            await self._holds.unhold(user.id)
        elif seated_now:
            await self._holds.hold(user.id, self._rest_hold_s)
        if seated_now:
            await self._broadcaster.to_room(room.id, "user-joined", self._joined_event(
                result.seat, result.occupancy), except_user=user.id)
            await self._announce_occupancy(room)
        messages = await self._sql.recent_messages(room.id, self._history_length)
        seats = await self._seats.seats(room.id)
        timer = await self.timer_read(room.id)
        return JoinResult(
            room=room_view(room.id, room.name, room.capacity, len(seats),
                           cameras_on=sum(seat.is_video_enabled for seat in seats), timer=timer),
            seats=seats,
            messages=messages,
            seated_now=seated_now,
            media=await self.media.room_media(room.id),
            timer=timer,
        )

    def join_response(self, result: JoinResult, user: UserRecord) -> JoinResponse:
        """The answer to a join, the same over REST and Socket.IO."""
        return JoinResponse(room=result.room,
                            participants=[participant_view(seat) for seat in result.seats],
                            recent_messages=[message_view(m) for m in result.messages],
                            self_=UserRead(user_id=user.id, display_name=user.display_name),
                            media=result.media, media_config=self.media.client_config(),
                            timer=result.timer)

    def join_wire(self, result: JoinResult, user: UserRecord) -> EncodedWire:
        """`join_response(result, user).wire()`, with each seat and recent message dumped and
        encoded once (not at every later join: a room's joins answer with its every seat and
        its recent chat), so the answer's JSON is mostly put together from cached text."""
        wire = JoinResponse(room=result.room, participants=[], recent_messages=[],
                            self_=UserRead(user_id=user.id, display_name=user.display_name),
                            media=result.media, media_config=self.media.client_config(),
                            timer=result.timer).wire()
        seats = [participant_entry(seat) for seat in result.seats]
        messages = [recent_message_entry(message) for message in result.messages]
        wire["participants"] = [entry[0] for entry in seats]
        wire["recentMessages"] = [entry[0] for entry in messages]
        return EncodedWire(wire, {
            "participants": "[" + ",".join([entry[1] for entry in seats]) + "]",
            "recentMessages": "[" + ",".join([entry[1] for entry in messages]) + "]"})

    # queue ---------------------------------------------------------------------------------

    async def admit_waiting(self) -> list[str]:
        """Seat queued users, first come first served, while seats are free; tell everyone."""
        admitted: list[Admission] = await self._seats.admit(
            capacities=self._capacities, system_capacity=self._system_capacity,
            now=self._clock.now())
        for admission in admitted:
            seat = admission.seat
            async with self._locks.hold(f"user:{seat.user_id}"):
                await self._sql.add_participant(room_id=seat.room_id, user_id=seat.user_id,
                                                joined_at=seat.joined_at)
            # The seat is reserved until the admitted user's socket claims it (or the hold ends).
            await self._holds.hold(seat.user_id, self._admission_hold_s)
            await self._broadcaster.to_room(seat.room_id, "user-joined",
                                            self._joined_event(seat, admission.occupancy))
            await self._announce_occupancy(self._rooms[seat.room_id])
            await self._broadcaster.to_user(seat.room_id, seat.user_id, "queue-admitted",
                                            {"roomId": seat.room_id})
        await self._announce_positions()
        return [admission.seat.user_id for admission in admitted]

    async def leave_queue(self, *, user_id: str) -> bool:
        """Stop waiting for a seat."""
        if not await self._seats.leave_queue(user_id):
            return False
        await self._announce_positions()
        return True

    async def _announce_positions(self) -> None:
        for entry, position in await self._seats.positions_to_tell():
            await self._broadcaster.to_user(entry.room_id, entry.user_id,
                                            "queue-position-changed",
                                            {"position": position, "roomId": entry.room_id})
        await self._announce_system()

    async def system_occupancy(self) -> dict:
        """Seats taken in the whole system and how many wait, as the lobby shows it."""
        taken = await self._seats.total()
        waiting = await self._seats.queue_length()
        return {"seatsTaken": taken, "systemCapacity": self._system_capacity,
                "waiting": waiting, "isFull": taken >= self._system_capacity or waiting > 0}

    async def _announce_system(self) -> None:
        await self.lobby_feed.changed(self._broadcaster.to_lobby,
                                      Change("system", self._system_events))

    async def _system_events(self, _: frozenset[str]) -> Events:
        return [("system-occupancy-update", await self.system_occupancy())]

    def _joined_event(self, seat: Seat, occupancy: int) -> dict:
        return {"userId": seat.user_id, "userName": seat.display_name,
                "joinedAt": iso(seat.joined_at), "currentOccupancy": occupancy,
                "isVideoEnabled": seat.is_video_enabled, "isAudioEnabled": seat.is_audio_enabled}

    # leave, holds and sockets going away ---------------------------------------------------

    async def holding(self, user_id: str) -> bool:
        return await self._holds.holding(user_id)

    async def has_socket(self, user_id: str, room_id: str) -> bool:
        """Whether any socket of the user, on any node, holds its seat in this room."""
        return any(s.joined and s.room_id == room_id
                   for s in await self._sessions.sockets(user_id))

    async def release_expired_holds(self) -> int:
        """Release seats whose hold ran out and that no socket claimed; returns how many."""
        released = 0
        for user_id in await self._holds.take_expired():
            seat = await self._seats.seat_of(user_id)
            if seat is not None and not await self.has_socket(user_id, seat.room_id):
                released += await self.leave_room(user_id=user_id, room_id=seat.room_id)
        return released

    async def socket_gone(self, *, user_id: str, room_id: str, joined: bool,
                          deliberate: bool) -> None:
        """A user's socket in a room namespace closed (it is already out of the sessions).

        A deliberate close frees the seat at once; a dropped transport holds it for the
        reconnect grace. Another socket of the user in the room keeps everything as it is.
        """
        others = [s for s in await self._sessions.sockets(user_id) if s.room_id == room_id]
        if any(s.joined for s in others):
            return
        if not others:
            await self.leave_queue(user_id=user_id)
        if not joined:
            return
        if deliberate or self._reconnect_grace_s <= 0:
            await self.leave_room(user_id=user_id, room_id=room_id)
        else:
            await self._holds.hold(user_id, self._reconnect_grace_s)

    async def leave_room(self, *, user_id: str, room_id: str | None = None) -> bool:
        """Give up the user's seat (in `room_id`, if named); False when there was none."""
        async with self._locks.hold(f"user:{user_id}"):
            released = await self._seats.release(user_id, room_id)
            if released is None:
                return False
            seat, occupancy = released
            await self._holds.unhold(user_id)
            try:
                await self._sql.remove_participant(user_id=user_id)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                # The seat is free (the truth); the record follows at the next table sweep.
                log.warning("participant record left for the sweep", error=repr(exc))
        await self._sessions.unjoin_room(user_id, seat.room_id)
        try:
            await self.media.close_participant(seat.room_id, user_id)
        except Exception:
            log.exception("closing media failed", room_id=seat.room_id)
        await self._broadcaster.user_left(seat.room_id, user_id, occupancy)
        await self._announce_occupancy(self.room(seat.room_id))
        if await self._seats.queue_length():
            await self.admit_waiting()
        return True

    async def sync_records(self) -> int:
        """Participant records follow the live seats (the table sweep calls this)."""
        seats = []
        for room_id in self._rooms:
            seats += [(s.room_id, s.user_id, s.joined_at) for s in await self._seats.seats(room_id)]
        return await self._sql.sync_participants(seats)

    async def seated_in(self, *, user_id: str, room_id: str) -> Seat:
        seat = await self._seats.seat_of(user_id)
        if seat is None or seat.room_id != room_id:
            raise NotInRoom()
        return seat

    # inside a room -------------------------------------------------------------------------

    async def toggle_media(self, *, room_id: str, user_id: str, kind: str,
                           enabled: bool) -> None:
        """Switch a participant's camera or microphone flag and tell the others."""
        if kind not in ("audio", "video"):
            raise InvalidRequest("kind must be audio or video")
        await self.seated_in(user_id=user_id, room_id=room_id)
        async with self._locks.hold(f"user:{user_id}"):
            seat = await self._seats.set_media(user_id, kind, enabled)
            if seat is None:
                raise NotInRoom()
            await self._sql.set_participant_media(user_id=user_id, kind=kind, enabled=enabled)
            # Forwarding follows the flag: a camera switched off is not sent to anyone.
            await self.media.set_muted(room_id, user_id, kind, not enabled)
        await self._broadcaster.to_room(room_id, f"participant-{kind}-toggle",
                                        {"userId": user_id, "enabled": enabled},
                                        except_user=user_id)
        if kind == "video":
            await self.announce_room(room_id)  # the lobby card counts cameras

    async def set_status(self, *, room_id: str, user_id: str, status: object) -> str | None:
        """Set (or, empty, clear) what a participant is working on; the room sees it live."""
        if status is not None and not isinstance(status, str):
            raise InvalidRequest("status must be a string")
        text = None
        if status is not None and status.strip():
            # The same text rules as chat, shorter.
            text = clean_message(status, self._status_max)
        await self.seated_in(user_id=user_id, room_id=room_id)
        seat = await self._seats.set_status(user_id, text)
        if seat is None:
            raise NotInRoom()
        await self._broadcaster.to_room(room_id, "participant-status-changed",
                                        {"userId": user_id, "status": text})
        return text

    async def send_message(self, *, room_id: str, user_id: str, content: object) -> dict[str, str]:
        """Persist a chat message and broadcast it to the whole room, sender included; returns
        the message as the wire carries it (`MessageRead`)."""
        seat = await self.seated_in(user_id=user_id, room_id=room_id)
        text = clean_message(content, self._message_max)
        now = self._clock.now()
        record = MessageRecord(id=new_time_ordered_uuid(now), room_id=room_id, user_id=user_id,
                               sender_name=seat.display_name, content=text, created_at=now)
        message = message_wire(record)
        # Committed (with whatever else arrived meanwhile), then announced in history order.
        await self._chat.append(record, (room_id, {"roomId": room_id, "message": message}))
        return message

    async def _announce_messages(self, sends: list[tuple[str, dict]]) -> None:
        await self._broadcaster.to_rooms_in_order("new-message", sends)

    async def _announce_occupancy(self, room: RoomRecord) -> None:
        # The room's card and the system's totals: one broadcast to the lobby.
        await self.lobby_feed.changed(
            self._broadcaster.to_lobby,
            Change(f"room:{room.id}", partial(self._room_events, room.id), OCCUPANCY),
            Change("system", self._system_events))

    async def announce_room(self, room_id: str) -> None:
        """The lobby card of a room changed (people, cameras, timer): send the whole card."""
        self.room(room_id)
        await self.lobby_feed.changed(self._broadcaster.to_lobby,
                                      Change(f"room:{room_id}",
                                             partial(self._room_events, room_id)))

    async def _room_events(self, room_id: str, changes: frozenset[str]) -> Events:
        view = (await self.room_read(room_id)).wire()
        events: Events = []
        if OCCUPANCY in changes:
            events.append(("room-occupancy-update", {
                "roomId": room_id, "currentOccupancy": view["currentOccupancy"],
                "capacity": view["capacity"], "isFull": view["isFull"],
            }))
        events.append(("room-updated", {"room": view}))
        return events
