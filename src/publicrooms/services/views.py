"""Records and seats turned into wire shapes."""

from __future__ import annotations

from datetime import datetime, timezone

from publicrooms.schemas.rooms import MessageRead, ParticipantRead, RoomRead
from publicrooms.schemas.timer import TimerRead
from publicrooms.state.seats import Seat
from publicrooms.store.sql import MessageRecord


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, as JavaScript's toISOString writes it."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def room_view(room_id: str, name: str, capacity: int, occupancy: int, *, cameras_on: int = 0,
              timer: TimerRead | None = None) -> RoomRead:
    return RoomRead(id=room_id, name=name, current_occupancy=occupancy, capacity=capacity,
                    is_full=occupancy >= capacity, cameras_on=cameras_on, timer=timer)


def participant_view(seat: Seat) -> ParticipantRead:
    return ParticipantRead(user_id=seat.user_id, display_name=seat.display_name,
                           is_video_enabled=seat.is_video_enabled,
                           is_audio_enabled=seat.is_audio_enabled, joined_at=iso(seat.joined_at),
                           status=seat.status)


def message_view(message: MessageRecord) -> MessageRead:
    return MessageRead(id=message.id, sender_id=message.user_id, sender_name=message.sender_name,
                       content=message.content, timestamp=iso(message.created_at))
