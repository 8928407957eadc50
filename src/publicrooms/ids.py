"""Identifiers: time-ordered random UUIDs (version 7, RFC 9562) for chat messages."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

# The variant digit of an RFC 9562 UUID (10xx) keeping the random digit's two low bits.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MILLISECOND = timedelta(milliseconds=1)


def new_time_ordered_uuid(moment: datetime) -> str:
    """A version 7 UUID: `moment`'s Unix time in milliseconds, then 74 random bits (from
    `os.urandom`), written as `str(uuid.UUID(...))` writes it. Ids made one after another sort
    in the order they were made (to the millisecond), so a unique index on them grows at its
    end instead of rewriting a random page of itself for every new row."""
    ms = (moment - _EPOCH) // _MILLISECOND
    h = f"{ms & 0xFFFF_FFFF_FFFF:012x}{os.urandom(10).hex()}"
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"
