"""Media (SFU) settings, nested in the main Settings as `settings.media` (PUBLICROOMS_MEDIA__*)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IceServer(BaseModel):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class MediaSettings(BaseModel):
    enabled: bool = True
    workers: int = Field(default=0, ge=0, description="media worker processes; 0 = one per core")
    ice_servers: list[IceServer] = Field(default_factory=list)
    announced_ip: str | None = None
    loopback_only: bool = False
