"""SenderReports: the sender reports one subscriber connection is due, sent as one packet.

Each down track reports once per period (audio less often, see MediaSettings). Their periods
are aligned to the same clock boundaries, so the reports of one connection fall in the same
turn of the loop; they leave then as one compound RTCP packet (RFC 3550 6.1, several senders'
SR + SDES in one, as mediasoup's transport sends them): one SRTCP protect and one datagram
per connection and period instead of one per down track. A connection with many tracks (a
full room: 18) gets as many compounds as keep each under MAX_COMPOUND_BYTES: one datagram
within a path's MTU, and within what an SRTCP session protects.
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import aiortc_adapter as adapter
from .stats import Counters

MAX_COMPOUND_BYTES = 1200  # plain RTCP per datagram (SRTCP adds 20 bytes; 1500-byte MTU paths)


def compounds(parts: list[bytes], limit: int = MAX_COMPOUND_BYTES) -> list[bytes]:
    """`parts` (each a valid compound: SR + SDES) joined in order into packets of at most `limit`."""
    out: list[bytes] = []
    current = b""
    for part in parts:
        if current and len(current) + len(part) > limit:
            out.append(current)
            current = b""
        current += part
    if current:
        out.append(current)
    return out


class SenderReports:
    """Collects one connection's reports during a turn of the loop; sends them at its end."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._parts: list[bytes] = []
        self._transport: Any = None
        self._sending: asyncio.Task | None = None

    def add(self, transport: Any, report: bytes) -> None:
        if not self._parts:
            asyncio.get_running_loop().call_soon(self._flush)
        self._transport = transport
        self._parts.append(report)
        self._counters.sender_reports += 1

    def _flush(self) -> None:
        parts, self._parts = self._parts, []
        if not parts:
            return
        packets = compounds(parts)
        self._counters.rtcp_compounds += len(packets)
        self._sending = asyncio.get_running_loop().create_task(
            _send_all(self._transport, packets), name="sender-reports")

    def close(self) -> None:
        self._parts.clear()
        if self._sending is not None:
            self._sending.cancel()
            self._sending = None


async def _send_all(transport: Any, packets: list[bytes]) -> None:
    for packet in packets:
        await adapter.send_rtcp(transport, packet)


def next_boundary_s(now_s: float, period_s: float) -> float:
    """Seconds from `now_s` to the next multiple of `period_s` at least a quarter period away.

    A loop timer can fire a little before the boundary it was set for (uvloop's timers run on a
    cached loop time): the work done then is that boundary's, and the next sleep must reach the
    following one, not the same boundary a millisecond later (a second report in one period).
    """
    wait = period_s - (now_s % period_s)
    return wait if wait > period_s / 4 else wait + period_s
