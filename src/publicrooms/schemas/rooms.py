"""Rooms, participants, messages and users as the wire shows them."""

from __future__ import annotations

from pydantic import Field, StrictBool

from publicrooms.schemas.base import RequestModel, WireModel
from publicrooms.schemas.timer import TimerRead

# Generous caps before cleaning; the services apply the real limits with their own error codes.
_NAME_CAP = 1_000
_CONTENT_CAP = 20_000
_ID_CAP = 64


class UserCreate(RequestModel):
    display_name: str = Field(max_length=_NAME_CAP)


class UserRead(WireModel):
    user_id: str
    display_name: str


class RoomRead(WireModel):
    id: str
    name: str
    current_occupancy: int
    capacity: int
    is_full: bool
    cameras_on: int = 0             # seats with the camera on
    timer: TimerRead | None = None  # the room's shared focus timer


class ParticipantRead(WireModel):
    user_id: str
    display_name: str
    is_video_enabled: bool
    is_audio_enabled: bool
    joined_at: str
    status: str | None = None  # "working on…"


class MessageRead(WireModel):
    id: str
    sender_id: str
    sender_name: str
    content: str
    timestamp: str


class RoomDetail(WireModel):
    room: RoomRead
    participants: list[ParticipantRead]


class JoinRequest(RequestModel):
    user_id: str = Field(min_length=1, max_length=_ID_CAP)


class JoinResponse(WireModel):
    success: bool = True
    room: RoomRead
    participants: list[ParticipantRead]
    recent_messages: list[MessageRead]
    self_: UserRead = Field(alias="self")
    # What media the room has ({participantId, kind, muted}) and how to reach the SFU.
    media: list[dict] = Field(default_factory=list)
    media_config: dict = Field(default_factory=dict)
    timer: TimerRead | None = None


class LeaveRequest(RequestModel):
    user_id: str = Field(min_length=1, max_length=_ID_CAP)


class SuccessResponse(WireModel):
    success: bool = True


class JoinRoomPayload(RequestModel):
    user_id: str | None = Field(default=None, max_length=_ID_CAP)
    user_name: str | None = Field(default=None, max_length=_NAME_CAP)
    # False: refuse (SEATED_ELSEWHERE) while another socket of the user holds the seat here.
    take_over: StrictBool = True


class LeaveRoomPayload(RequestModel):
    user_id: str | None = Field(default=None, max_length=_ID_CAP)


class SendMessagePayload(RequestModel):
    content: str = Field(max_length=_CONTENT_CAP)
    # Optional, as the original clients send it; naming anyone but the sender is refused.
    user_id: str | None = Field(default=None, max_length=_ID_CAP)


class TogglePayload(RequestModel):
    user_id: str | None = Field(default=None, max_length=_ID_CAP)
    enabled: StrictBool


class MessageSent(WireModel):
    success: bool = True
    message: MessageRead


class ConfigRead(WireModel):
    ice_servers: list[dict]
    max_display_name_length: int
    max_message_length: int
