"""Records and seats turned into wire shapes."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

from publicrooms.schemas.base import COMPACT_JSON
from publicrooms.schemas.rooms import MessageRead, ParticipantRead, RoomRead
from publicrooms.schemas.timer import TimerRead
from publicrooms.state.seats import Seat
from publicrooms.store.sql import MessageRecord


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, as JavaScript's toISOString writes it."""
    # isoformat truncates to milliseconds as the // 1000 did, at a third of strftime's cost;
    # a UTC moment (every clock reading) only trades its "+00:00" for the "Z".
    if moment.tzinfo is timezone.utc:
        return moment.isoformat(timespec="milliseconds")[:-6] + "Z"
    moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def room_view(room_id: str, name: str, capacity: int, occupancy: int, *, cameras_on: int = 0,
              timer: TimerRead | None = None) -> RoomRead:
    return RoomRead(id=room_id, name=name, current_occupancy=occupancy, capacity=capacity,
                    is_full=occupancy >= capacity, cameras_on=cameras_on, timer=timer)


# A join answers with every seat of the room: each seat's view is built once (seats and views
# are immutable; a changed flag or status is a new seat) rather than once per later join.
@lru_cache(maxsize=4096)
def participant_view(seat: Seat) -> ParticipantRead:
    return ParticipantRead(user_id=seat.user_id, display_name=seat.display_name,
                           is_video_enabled=seat.is_video_enabled,
                           is_audio_enabled=seat.is_audio_enabled, joined_at=iso(seat.joined_at),
                           status=seat.status)


@lru_cache(maxsize=4096)
def participant_entry(seat: Seat) -> tuple[dict, str]:
    """`participant_view(seat).wire()` and its JSON text as a packet carries it, both built
    once per seat; the dict is shared, so never to be changed (it is only ever encoded)."""
    wire = participant_view(seat).wire()
    return wire, COMPACT_JSON.encode(wire)


# A join answers with the room's recent chat too: each message's wire and text are built once
# while it stays recent (records are immutable), not at every join.
@lru_cache(maxsize=4096)
def recent_message_entry(message: MessageRecord) -> tuple[dict[str, str], str]:
    """`message_wire(message)` and its JSON text, shared (never to be changed)."""
    wire = message_wire(message)
    return wire, COMPACT_JSON.encode(wire)


def message_view(message: MessageRecord) -> MessageRead:
    return MessageRead.model_validate(message_wire(message))


def message_wire(message: MessageRecord) -> dict[str, str]:
    """`message_view(message).wire()`, built directly (the one place a record becomes a wire
    message): a chat message's broadcast and its acknowledgement share it, and no model is
    validated and dumped per message."""
    return {"id": message.id, "senderId": message.user_id, "senderName": message.sender_name,
            "content": message.content, "timestamp": iso(message.created_at)}
