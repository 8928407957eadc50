"""The error body every REST endpoint answers with, as the OpenAPI document shows it."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from publicrooms.schemas.base import WireModel


class ErrorRead(WireModel):
    code: str = Field(description="stable error code (docs/protocol.md, *Error codes*)")
    message: str
    retry_after: int | None = Field(default=None, ge=1, description="seconds to wait")
    details: dict[str, Any] | None = None


class ErrorResponse(WireModel):
    error: ErrorRead
