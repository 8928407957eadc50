"""All configuration. Environment variables are PUBLICROOMS_* (nested with `__`); nothing else reads env."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from publicrooms.media.settings import MediaSettings


class RoomConfig(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1, max_length=80)
    capacity: int = Field(default=10, ge=1, le=10_000)


DEFAULT_ROOMS = [
    RoomConfig(id="quiet-library", name="Quiet Library"),
    RoomConfig(id="deep-focus", name="Deep Focus"),
    RoomConfig(id="pomodoro", name="Pomodoro Sprints"),
    RoomConfig(id="math-and-physics", name="Math & Physics"),
    RoomConfig(id="coding-corner", name="Coding Corner"),
    RoomConfig(id="languages", name="Language Learning"),
    RoomConfig(id="exam-prep", name="Exam Prep"),
    RoomConfig(id="writing-desk", name="Writing Desk"),
    RoomConfig(id="night-owls", name="Night Owls"),
    RoomConfig(id="early-birds", name="Early Birds"),
]


class LimitSettings(BaseModel):
    """Abuse limits (SPEC §5); counts per window, blocks in seconds."""

    window_s: int = 60  # the "minute" of every per-minute limit
    rest_per_minute: int = 100
    rest_block_s: float = 60
    chat_per_minute: int = 10
    chat_block_s: float = 30
    join_per_minute: int = 5
    join_block_s: float = 300
    connections_per_ip: int = 2
    reconnect_base_s: float = 1.0
    reconnect_max_s: float = 60.0
    reconnect_free_attempts: int = 5
    reconnect_window_s: float = 60.0
    violations_before_block: int = 10
    violation_window_s: float = 600
    ip_block_s: float = 900
    storage_uri: str = "async+memory://"  # limits storage; async+redis://host:6379 to share


class CleanupSettings(BaseModel):
    """Health checks and sweeps (SPEC §7)."""

    reconnect_grace_s: float = 10.0
    rest_seat_hold_s: float = 30.0
    ping_interval_s: float = 300.0
    ping_idle_s: float = 300.0
    ping_max_missed: int = 3
    inactive_after_s: float = 1800.0
    inactive_sweep_interval_s: float = 30.0
    table_sweep_interval_s: float = 60.0
    shutdown_grace_s: float = 5.0
    engineio_ping_interval_s: float = 25.0
    engineio_ping_timeout_s: float = 20.0


class Settings(BaseSettings):
    """Everything an operator can tune; passed into create_app, never read at import time."""

    model_config = SettingsConfigDict(
        env_prefix="PUBLICROOMS_", env_nested_delimiter="__", extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = Field(default="publicrooms:", pattern=r"^[A-Za-z0-9:_.-]{1,64}$")
    node_heartbeat_interval_s: float = Field(default=2.0, gt=0)
    node_heartbeat_timeout_s: float = Field(default=10.0, gt=0)
    secret: str | None = Field(default=None, description="IP-key HMAC secret; generated if unset")

    rooms: list[RoomConfig] = Field(default_factory=lambda: list(DEFAULT_ROOMS))
    system_capacity: int = 100
    history_length: int = 50
    display_name_max: int = 50
    message_max: int = 1000

    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    max_message_bytes: int = 64 * 1024
    ws_compression: bool = False
    gc_freeze: bool = True
    gc_gen0_threshold: int = 50_000
    log_level: str = "info"
    log_json: bool = False

    limits: LimitSettings = Field(default_factory=LimitSettings)
    cleanup: CleanupSettings = Field(default_factory=CleanupSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)

    @field_validator("trusted_proxies", "allowed_origins", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                import json

                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry.strip() == "*":
                raise ValueError("trusted_proxies must list explicit addresses or CIDRs, not '*'")
            ipaddress.ip_network(entry, strict=False)
        return value

    @field_validator("rooms")
    @classmethod
    def _unique_rooms(cls, value: list[RoomConfig]) -> list[RoomConfig]:
        ids = [room.id for room in value]
        if len(ids) != len(set(ids)):
            raise ValueError("room ids must be unique")
        return value

    @model_validator(mode="after")
    def _shared_state_needs_shared_secret(self) -> Settings:
        if self.redis_url and not self.secret:
            raise ValueError("PUBLICROOMS_SECRET must be set when PUBLICROOMS_REDIS_URL is: "
                             "every node must derive the same IP keys")
        if self.node_heartbeat_timeout_s <= self.node_heartbeat_interval_s:
            raise ValueError("node_heartbeat_timeout_s must exceed node_heartbeat_interval_s")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'publicrooms.db').resolve()}"
