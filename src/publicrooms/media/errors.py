"""Every exception the media service raises; the core maps them to its own error codes."""

from __future__ import annotations


class MediaError(Exception):
    """Base class of every media-layer error."""

    code = "MEDIA_ERROR"


class MediaUnavailable(MediaError):
    """The media service is not running (not started, stopping, or disabled)."""

    code = "MEDIA_UNAVAILABLE"


class InvalidSdp(MediaError):
    """A client's SDP could not be parsed or negotiated."""

    code = "INVALID_SDP"


class NotPublishing(MediaError):
    """The participant has no publish connection for this operation."""

    code = "NOT_PUBLISHING"


class NotSubscribed(MediaError):
    """The participant has no subscribe connection (call subscribe first)."""

    code = "NOT_SUBSCRIBED"


class StaleAnswer(MediaError):
    """An answer arrived for an offer that is no longer the pending one."""

    code = "STALE_ANSWER"


class WorkerDied(MediaError):
    """The worker owning the room died while handling the request; reconnect media."""

    code = "MEDIA_WORKER_DIED"


class WorkerTimeout(MediaError):
    """The worker did not answer in time."""

    code = "MEDIA_TIMEOUT"


class AdapterMismatch(MediaError):
    """An aiortc/aioice internal the SFU relies on is missing or changed (wrong version?)."""

    code = "MEDIA_ADAPTER_MISMATCH"


# Errors a worker may send back, by name; anything else becomes a plain MediaError.
BY_NAME: dict[str, type[MediaError]] = {
    cls.__name__: cls
    for cls in (
        MediaError,
        MediaUnavailable,
        InvalidSdp,
        NotPublishing,
        NotSubscribed,
        StaleAnswer,
        WorkerDied,
        WorkerTimeout,
        AdapterMismatch,
    )
}
