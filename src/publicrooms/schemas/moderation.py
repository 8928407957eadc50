"""Wire shapes of reports (participants) and of the operator API."""

from __future__ import annotations

from pydantic import Field

from publicrooms.schemas.base import RequestModel

_ID_CAP = 64
_TEXT_CAP = 4000  # far above the cleaned limit: the service says what the limit is


class ReportPayload(RequestModel):
    """`report-user`: who, why (one of the reasons), optional words."""

    user_id: str = Field(max_length=_ID_CAP)
    reason: str = Field(max_length=32)
    text: str = Field(default="", max_length=_TEXT_CAP)


class PersonRef(RequestModel):
    """Which person an operator means: by user id, by report (its target) or by IP key."""

    user_id: str | None = Field(default=None, max_length=_ID_CAP)
    report_id: str | None = Field(default=None, max_length=_ID_CAP)
    ip_key: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class KickRequest(RequestModel):
    user_id: str = Field(max_length=_ID_CAP)
    reason: str = Field(default="", max_length=500)


class BanCreate(PersonRef):
    # At most ten years (a longer ban is a ban for good: omit the duration).
    duration_s: float | None = Field(default=None, gt=0, le=10 * 365 * 86400,
                                     description="omitted: for good; at most ten years")
    reason: str = Field(min_length=1, max_length=1000, description="for operators")
    public_reason: str = Field(default="Violation of the rules of this site.", min_length=1,
                               max_length=300, description="what the banned person is told")


class ResolveRequest(RequestModel):
    resolution: str = Field(default="resolved", min_length=1, max_length=1000)
