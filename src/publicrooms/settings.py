"""All configuration. Environment variables are PUBLICROOMS_* (nested with `__`); nothing else reads env."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, PositiveFloat, PositiveInt, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from publicrooms.media.settings import MediaSettings


class RoomTimerConfig(BaseModel):
    """A room's shared focus timer: phase lengths in minutes, and whether it runs from start-up."""

    focus_min: PositiveFloat = 25
    break_min: PositiveFloat = 5
    long_break_min: PositiveFloat = 15
    long_break_after: PositiveInt = 4   # focus rounds before a long break
    starts_on: bool = False             # running from the first start-up, with nobody there


class RoomConfig(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1, max_length=80)
    capacity: int = Field(default=10, ge=1, le=10_000)
    timer: RoomTimerConfig = Field(default_factory=RoomTimerConfig)


DEFAULT_ROOMS = [
    RoomConfig(id="quiet-library", name="Quiet Library"),
    RoomConfig(id="deep-focus", name="Deep Focus"),
    RoomConfig(id="pomodoro", name="Pomodoro Sprints", timer=RoomTimerConfig(starts_on=True)),
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

    window_s: PositiveInt = 60  # the "minute" of every per-minute limit
    rest_per_minute: PositiveInt = 100
    rest_block_s: PositiveFloat = 60
    chat_per_minute: PositiveInt = 10
    chat_block_s: PositiveFloat = 30
    join_per_minute: PositiveInt = 5
    join_block_s: PositiveFloat = 300
    connections_per_ip: PositiveInt = 2
    reconnect_base_s: PositiveFloat = 1.0
    reconnect_max_s: PositiveFloat = 60.0
    reconnect_free_attempts: PositiveInt = 5
    reconnect_window_s: PositiveFloat = 60.0
    violations_before_block: PositiveInt = 10
    violation_window_s: PositiveFloat = 600
    ip_block_s: PositiveFloat = 900
    storage_uri: str = "async+memory://"  # limits storage; async+redis://host:6379 to share
    reports_per_window: PositiveInt = 5   # reports one IP key may file per report window
    report_window_s: PositiveInt = 600
    report_block_s: PositiveFloat = 600
    admin_per_minute: PositiveInt = 120   # operator API calls per IP key
    admin_block_s: PositiveFloat = 60
    timer_actions_per_minute: PositiveInt = 10  # start/pause/skip per user
    timer_block_s: PositiveFloat = 30
    status_per_minute: PositiveInt = 10   # "working on…" changes per user
    status_block_s: PositiveFloat = 30


class CleanupSettings(BaseModel):
    """Health checks and sweeps (SPEC §7)."""

    reconnect_grace_s: float = Field(default=10.0, ge=0)  # 0 disables
    rest_seat_hold_s: PositiveFloat = 30.0
    ping_interval_s: PositiveFloat = 300.0
    ping_idle_s: PositiveFloat = 300.0
    ping_max_missed: PositiveInt = 3
    inactive_after_s: PositiveFloat = 1800.0
    inactive_sweep_interval_s: PositiveFloat = 30.0
    table_sweep_interval_s: PositiveFloat = 60.0
    shutdown_grace_s: float = Field(default=5.0, ge=0)  # 0 disables
    engineio_ping_interval_s: PositiveFloat = 25.0
    engineio_ping_timeout_s: PositiveFloat = 20.0
    # An Engine.IO session that has joined no Socket.IO namespace by then is closed.
    namespace_connect_timeout_s: PositiveFloat = 10.0


class Settings(BaseSettings):
    """Everything an operator can tune; passed into create_app, never read at import time."""

    model_config = SettingsConfigDict(
        env_prefix="PUBLICROOMS_", env_nested_delimiter="__", extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = Field(default="publicrooms:", pattern=r"^[A-Za-z0-9:_.-]{1,64}$")
    node_heartbeat_interval_s: float = Field(default=2.0, gt=0)
    node_heartbeat_timeout_s: float = Field(default=10.0, gt=0)
    ban_refresh_interval_s: float = Field(
        default=2.0, gt=0, description="how often every node reloads the bans from the database")
    fanout_backlog: int = Field(
        default=10_000, gt=0, description="broadcasts kept in the Redis fan-out stream for nodes "
                                    "catching up after losing Redis")
    fanout_retry_s: float = Field(default=0.5, gt=0,
                                  description="wait before a node reads the fan-out again "
                                              "after losing Redis")
    secret: str | None = Field(default=None, description="IP-key HMAC secret; generated if unset")

    rooms: list[RoomConfig] = Field(default_factory=lambda: list(DEFAULT_ROOMS), min_length=1)
    system_capacity: PositiveInt = 100
    history_length: PositiveInt = 50
    display_name_max: PositiveInt = 50
    message_max: PositiveInt = 1000
    # Group commit: chat messages arriving while one batch is written share the next
    # transaction, and a batch starts no sooner than this after the one before it (a lone
    # message after a quiet spell is written at once).
    chat_commit_window_s: float = Field(
        default=0.005, ge=0, le=0.1,
        description="the least time between the starts of two chat transactions")
    chat_commit_max: PositiveInt = Field(default=200, description="messages per chat transaction")
    # A burst of joins is served in waves of this many (the rest wait their turn, in arrival
    # order), so acknowledgements flow while the later ones are still being served.
    join_concurrency: PositiveInt = Field(
        default=256, description="joins a node serves at once; the others wait their turn")
    # Lobby updates of one room (and of the system's seats) within this window after one was
    # sent are merged into one update with the current counts. 0 (the default) sends every
    # change, as docs/protocol.md promises; a few tens of ms spare thousands of viewers the
    # steps of a burst of joins.
    lobby_update_window_s: float = Field(
        default=0.0, ge=0, le=5,
        description="how long after a lobby update further changes of that room are merged")
    report_text_max: PositiveInt = 500
    status_max: PositiveInt = 80  # "working on…" status
    timer_check_interval_s: float = Field(
        default=1.0, gt=0, description="how often one node ends the room timers' phases that are "
                                       "due (and tells the rooms)")

    admin_token: str | None = Field(
        default=None, min_length=16,
        description="bearer token of the operator API /api/admin/...; the API is off when unset")

    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    max_message_bytes: int = Field(default=64 * 1024, ge=1024)
    ws_compression: bool = False
    # Binary attachments one Socket.IO packet may announce (Node's socket.io-parser: 10);
    # together they may not exceed max_message_bytes.
    max_attachments: PositiveInt = 10
    # What may wait to be written to one connection (a client that stopped reading): past
    # either bound it is disconnected as a transport error (its seat held for the grace).
    send_queue_max_packets: PositiveInt = 500
    send_queue_max_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)
    # A request whose headers are unfinished this long after its first byte is cut off.
    header_timeout_s: PositiveFloat = 5.0
    gc_freeze: bool = True
    gc_gen0_threshold: PositiveInt = 50_000
    log_level: str = Field(default="info", pattern=r"(?i)^(debug|info|warning|error|critical)$")
    log_json: bool = False
    log_access: bool = Field(default=False, description="one line per HTTP request (uvicorn's access log)")

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

    @field_validator("database_url")
    @classmethod
    def _parseable_database_url(cls, value: str | None) -> str | None:
        if not value:  # unset or empty: the embedded SQLite database
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("expected a SQLAlchemy URL such as "
                             "postgresql+asyncpg://user@host/db or sqlite+aiosqlite:///file.db") from None
        if url.drivername not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
            raise ValueError("expected a postgresql+asyncpg:// or sqlite+aiosqlite:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _parseable_redis_url(cls, value: str | None) -> str | None:
        if not value:  # unset or empty: memory mode
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError:
            raise ValueError("expected redis://host:port/db (the port is not a number)") from None
        if parts.scheme not in ("redis", "rediss", "unix") or (parts.scheme != "unix" and not parts.hostname):
            raise ValueError("expected redis://host:port/db, rediss://… or unix://path")
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


# --- what an operator sees of the settings (serve --help, `publicrooms config`, start-up) ---

ENV_PREFIX = "PUBLICROOMS_"
# Variables read by the command line itself rather than by Settings.
CLI_VARIABLES = {"PUBLICROOMS_ADMIN_URL": "http://127.0.0.1:8000 (where admin commands send their calls)"}
_SECRET_WORDS = ("secret", "token", "password", "credential")


def _nested(annotation: object) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _walk(model: type[BaseModel], instance: BaseModel | None, prefix: str):  # noqa: ANN202
    for name, field in model.model_fields.items():
        value = getattr(instance, name) if instance is not None else field.get_default(
            call_default_factory=True)
        nested = _nested(field.annotation)
        if nested is not None and name != "rooms":
            yield from _walk(nested, value, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}", value, field.description or ""


def _shown(name: str, value: object) -> str:
    if value is None:
        return "unset"
    if any(word in name.lower() for word in _SECRET_WORDS):
        return "****" if value else "unset"
    if name.endswith("_URL") and isinstance(value, str) and "@" in value:
        from sqlalchemy.engine import make_url

        try:  # the password of a URL, if any, is masked
            return make_url(value).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001
            return "****"
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        import json

        return json.dumps([{k: "****" if any(w in k for w in _SECRET_WORDS) and v else v
                             for k, v in item.model_dump(mode="json").items()} for item in value])
    if isinstance(value, list):
        return ",".join(str(item) for item in value) or "none"
    return str(value)


def environment_variables() -> list[tuple[str, str, str]]:
    """(variable, default, description) of every setting, as the environment names them."""
    rows = [(name, _shown(name, value), doc) for name, value, doc in _walk(Settings, None, ENV_PREFIX)]
    return [(n, "10 rooms of 10 seats" if n == "PUBLICROOMS_ROOMS" else d, doc) for n, d, doc in rows]


def effective_configuration(settings: Settings) -> list[tuple[str, str]]:
    """(variable, value in effect) of every setting, secrets masked."""
    return [(name, _shown(name, value)) for name, value, _ in _walk(Settings, settings, ENV_PREFIX)]


def unknown_variables(environ: dict[str, str]) -> list[tuple[str, str | None]]:
    """PUBLICROOMS_* variables no setting reads, each with the closest valid name (or None)."""
    import difflib

    known = [name for name, _, _ in _walk(Settings, None, ENV_PREFIX)] + list(CLI_VARIABLES)
    groups = [name for name, field in Settings.model_fields.items()
              if _nested(field.annotation) is not None and name != "rooms"]
    unknown = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        if upper in {f"{ENV_PREFIX}{g.upper()}" for g in groups}:
            continue  # a whole group as JSON
        # Compared without the shared prefix, which would make every name look alike.
        suffixes = [name.removeprefix(ENV_PREFIX) for name in known]
        close = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), suffixes, n=1, cutoff=0.7)
        unknown.append((variable, ENV_PREFIX + close[0] if close else None))
    return unknown


def describe_validation_error(error: object, environ: dict[str, str]) -> str:
    """One line naming the variable, the value given and what is expected."""
    problems = []
    for item in error.errors():  # type: ignore[attr-defined]
        loc = [str(part) for part in item["loc"]]
        expected = item["msg"].removeprefix("Value error, ")
        if not loc:
            problems.append(expected)
            continue
        # Nested groups are named with `__`; list items (rooms) by position after the variable.
        head = [loc[0]]
        if len(loc) > 1 and loc[0] in ("limits", "cleanup", "media") and not loc[1].isdigit():
            head.append(loc[1])
        variable = ENV_PREFIX + "__".join(head).upper()
        where = ".".join(loc[len(head):])
        given = environ.get(variable, environ.get(variable.lower()))
        if given is None:
            given = item.get("input")
        given_text = given if isinstance(given, str) else repr(given)
        if len(given_text) > 120:
            given_text = given_text[:117] + "..."
        problems.append(f"{variable}{f' ({where})' if where else ''}={given_text!r}: {expected}")
    return "; ".join(problems)
