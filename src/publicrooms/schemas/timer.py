"""A room's shared focus timer, and the "working on…" status, as the wire shows them."""

from __future__ import annotations

from pydantic import Field

from publicrooms.schemas.base import RequestModel, WireModel

_STATUS_CAP = 2_000  # before cleaning; the service applies the real limit (80)


class TimerActor(WireModel):
    user_id: str
    display_name: str


class TimerRead(WireModel):
    phase: str                  # focus | break | long-break
    status: str                 # stopped | running | paused
    round: int                  # focus round of the cycle, 1..rounds
    rounds: int                 # focus rounds before the long break
    ends_at: str | None         # ISO-8601 UTC, while running
    remaining_ms: int           # at server_time
    phase_ms: int               # the whole phase's length
    action: str | None          # what made the last change: start, pause, skip, phase-end
    by: TimerActor | None       # who did it (None for a phase that ended by itself)
    server_time: str            # when this was sent, on the server's clock


class TimerChanged(WireModel):
    success: bool = True
    timer: TimerRead


class StatusPayload(RequestModel):
    status: str | None = Field(default=None, max_length=_STATUS_CAP)


class StatusSet(WireModel):
    success: bool = True
    status: str | None
