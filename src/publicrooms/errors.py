"""Every error meant for a user, with its code; one mapping to HTTP and to Socket.IO payloads."""

from __future__ import annotations

import math
from typing import Any, ClassVar


class DomainError(Exception):
    """An error the user caused or must be told about; carries a stable wire code."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Something went wrong on our side."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after_s: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.retry_after_s = retry_after_s
        self.details = details
        # Extra HTTP headers (e.g. rate-limit state) a transport may attach on the way out.
        self.headers: dict[str, str] = {}
        super().__init__(self.message)

    @property
    def retry_after(self) -> int | None:
        """Whole seconds to wait, rounded up (what `Retry-After` carries)."""
        if self.retry_after_s is None:
            return None
        return max(1, math.ceil(self.retry_after_s))

    def payload(self) -> dict[str, Any]:
        """The `{code, message, retryAfter?, details?}` object both transports send."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retry_after is not None:
            body["retryAfter"] = self.retry_after
        if self.details:
            body["details"] = self.details
        return body


class InternalError(DomainError):
    """An unexpected failure; its cause is logged, never sent."""


class InvalidRequest(DomainError):
    """The request is malformed: wrong shape, wrong types, too large."""

    code, status, default_message = "INVALID_REQUEST", 400, "The request is malformed."


class InvalidDisplayName(DomainError):
    """The display name is empty or too long after cleaning."""

    code, status = "INVALID_DISPLAY_NAME", 400
    default_message = "Display name must be 1-50 characters."


class InvalidMessage(DomainError):
    """The chat message is empty or too long after cleaning."""

    code, status = "INVALID_MESSAGE", 400
    default_message = "Message must be 1-1000 characters."


class MaliciousInput(DomainError):
    """The input carries an injection payload."""

    code, status, default_message = "MALICIOUS_INPUT", 400, "The input was rejected."


class InvalidUser(DomainError):
    """The user id is unknown or belongs to another connection."""

    code, status, default_message = "INVALID_USER", 403, "This user id is not yours."


class RoomNotFound(DomainError):
    """No room has this id."""

    code, status, default_message = "ROOM_NOT_FOUND", 404, "Room not found."


class NotFound(DomainError):
    """No such record (operator API: user, report, ban)."""

    code, status, default_message = "NOT_FOUND", 404, "Not found."


class AdminUnauthorized(DomainError):
    """The operator API call carries no valid bearer token."""

    code, status, default_message = "UNAUTHORIZED", 401, "A valid operator token is required."


class ForeignOrigin(DomainError):
    """The operator API is not reachable from a web page of another origin."""

    code, status, default_message = "FORBIDDEN_ORIGIN", 403, "Cross-origin calls are refused."


class Kicked(DomainError):
    """An operator removed this person from the room."""

    code, status, default_message = "KICKED", 403, "You were removed from the room by a moderator."


class ReportLimitExceeded(DomainError):
    """Too many reports from this address."""

    code, status, default_message = "REPORT_LIMIT_EXCEEDED", 429, "Too many reports; try again later."


class AdminLimitExceeded(DomainError):
    """Too many operator API calls from this address."""

    code, status, default_message = "ADMIN_LIMIT_EXCEEDED", 429, "Too many operator calls."


class TimerLimitExceeded(DomainError):
    """Too many timer starts, pauses and skips from this person."""

    code, status, default_message = "TIMER_LIMIT_EXCEEDED", 429, "Too many timer changes; wait a moment."


class StatusLimitExceeded(DomainError):
    """Too many status changes from this person."""

    code, status, default_message = "STATUS_LIMIT_EXCEEDED", 429, "Too many status changes; wait a moment."


class NotInRoom(DomainError):
    """The action needs a seat in this room first."""

    code, status, default_message = "NOT_IN_ROOM", 409, "Join the room first."


class RoomFull(DomainError):
    """The room has no free seat."""

    code, status, default_message = "ROOM_FULL", 409, "This room is full."


class AlreadyInRoom(DomainError):
    """The user already holds a seat in another room."""

    code, status = "ALREADY_IN_ROOM", 409
    default_message = "You are already in another room; leave it first."


class SeatedElsewhere(DomainError):
    """The user's seat in this room is held by another of their connections (another tab)."""

    code, status = "SEATED_ELSEWHERE", 409
    default_message = "You are in this room in another tab or window; join with takeOver to move here."


class SystemAtCapacity(DomainError):
    """Every seat in the system is taken; the join waits in the queue."""

    code, status = "SYSTEM_AT_CAPACITY", 503
    default_message = "All seats are taken; you are in the queue."


class RateLimitExceeded(DomainError):
    """Too many requests to this endpoint."""

    code, status, default_message = "RATE_LIMIT_EXCEEDED", 429, "Too many requests."


class ChatRateLimitExceeded(DomainError):
    """Too many chat messages."""

    code, status, default_message = "CHAT_RATE_LIMIT_EXCEEDED", 429, "You are sending messages too fast."


class JoinLimitExceeded(DomainError):
    """Too many join attempts."""

    code, status, default_message = "JOIN_LIMIT_EXCEEDED", 429, "Too many join attempts."


class IpBlocked(DomainError):
    """This address is blocked for repeated abuse."""

    code, status, default_message = "IP_BLOCKED", 403, "Access is temporarily blocked."


class TooManyConnections(DomainError):
    """Too many concurrent connections from this address."""

    code, status, default_message = "TOO_MANY_CONNECTIONS", 429, "Too many open connections."


class ReconnectionThrottled(DomainError):
    """Reconnecting too quickly; wait before trying again."""

    code, status, default_message = "RECONNECTION_THROTTLED", 429, "Reconnecting too quickly."


class ConnectionTimeout(DomainError):
    """The connection stopped answering health checks."""

    code, status, default_message = "CONNECTION_TIMEOUT", 408, "The connection timed out."


class MediaFailed(DomainError):
    """The media layer could not do it; a media code says why (INVALID_SDP, ...)."""

    code, status, default_message = "MEDIA_UNAVAILABLE", 503, "Media is not available right now."


class ServerShuttingDown(DomainError):
    """The server is shutting down and admits nobody."""

    code, status, default_message = "SERVER_SHUTTING_DOWN", 503, "The server is restarting."


class TemporarilyUnavailable(DomainError):
    """Shared state (Redis) or the database cannot be reached; nothing was applied: retry."""

    code, status, default_message = ("TEMPORARILY_UNAVAILABLE", 503,
                                     "The service is briefly unavailable; try again shortly.")


ERROR_TYPES: tuple[type[DomainError], ...] = tuple(
    cls for cls in DomainError.__subclasses__() if cls is not InternalError
)


def _outage_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean a backing service is unreachable (not that the request is bad)."""
    import redis.exceptions
    import sqlalchemy.exc

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
            sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
            sqlalchemy.exc.DisconnectionError, sqlalchemy.exc.TimeoutError, ConnectionError,
            TimeoutError)


# SQLSTATE classes that mean the database cannot serve now, not that the statement is bad:
# connection exceptions, insufficient resources (too many connections, out of memory or disk),
# operator intervention (shutting down, starting up).
_OUTAGE_SQLSTATES = ("08", "53", "57P")


def is_outage(exc: BaseException) -> bool:
    import sqlalchemy.exc

    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        if sqlstate.startswith(_OUTAGE_SQLSTATES):
            return True
    return isinstance(exc, _outage_types())


def as_domain_error(exc: BaseException) -> DomainError:
    """The user-facing form of any exception: domain errors pass, outages are retryable,
    anything else is internal."""
    if isinstance(exc, DomainError):
        return exc
    if is_outage(exc):
        return TemporarilyUnavailable(retry_after_s=2)
    return InternalError()


def http_headers(error: DomainError) -> dict[str, str]:
    """Headers an HTTP error response carries (`Retry-After` when there is a wait)."""
    headers = dict(error.headers)
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return headers
