"""What the room service needs from the media layer (the SFU), so seats and media stay in step."""

from __future__ import annotations

from typing import Any, Protocol


class MediaPort(Protocol):
    async def set_muted(self, room_id: str, participant_id: str, kind: str, muted: bool) -> None: ...
    async def close_participant(self, room_id: str, participant_id: str) -> None: ...
    async def room_media(self, room_id: str) -> list[dict[str, Any]]: ...
    def client_config(self) -> dict[str, Any]: ...


class NoMedia:
    """Media switched off: rooms still work for presence and chat."""

    async def set_muted(self, room_id: str, participant_id: str, kind: str, muted: bool) -> None:
        return None

    async def close_participant(self, room_id: str, participant_id: str) -> None:
        return None

    async def room_media(self, room_id: str) -> list[dict[str, Any]]:
        return []

    def client_config(self) -> dict[str, Any]:
        return {"iceServers": [], "bundlePolicy": "max-bundle", "enabled": False}
