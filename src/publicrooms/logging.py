"""Structured logging (structlog); operators read these lines, other users never see them."""

from __future__ import annotations

import logging

import structlog


def configure_logging(level: str = "info", json_lines: bool = False) -> None:
    logging.basicConfig(format="%(message)s", level=level.upper())
    # Migration chatter at start-up is noise for operators.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    renderer = (structlog.processors.JSONRenderer() if json_lines
                else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=False,
    )
