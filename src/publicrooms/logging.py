"""Structured logging (structlog); operators read these lines, other users never see them.

Everything prints in one format: our own structlog loggers, and every standard-library logger
(uvicorn's error and access logs, alembic, the media service, the media worker processes) goes
through the same structlog processors and renderer.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import structlog

# Libraries that log every ICE check and DTLS step at info: operators see them only in debug.
CHATTY = ("aioice", "aiortc")


@dataclass(frozen=True)
class LogFormat:
    """How a process logs (level, JSON or console): the server hands its own to media workers."""

    level: str = "info"
    json_lines: bool = False


def _drop_color_message(_, __, event_dict: dict) -> dict:  # noqa: ANN001
    event_dict.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
    return event_dict


def _processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(level: str = "info", json_lines: bool = False, **context: object) -> None:
    """One format for every logger of this process; `context` is added to every line."""
    logging.captureWarnings(True)  # Python warnings too, not bare lines on stderr
    renderer = (structlog.processors.JSONRenderer() if json_lines
                else structlog.dev.ConsoleRenderer(colors=False))
    shared = _processors()
    if context:
        def add_context(_, __, event_dict: dict) -> dict:  # noqa: ANN001
            for key, value in context.items():
                event_dict.setdefault(key, value)
            return event_dict

        shared.append(add_context)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared,
                           structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)  # the same stream as structlog's own lines
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Uvicorn's loggers print through the root handler (ours), not handlers of their own.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Migration chatter at start-up is noise for operators (one line says what was applied).
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=False,
    )
