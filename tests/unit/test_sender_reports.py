"""Sender reports of a connection with many tracks: split into compounds SRTCP can protect."""

from __future__ import annotations

import asyncio
import os
import uuid

import pylibsrtp
import pytest
from aiortc.rtp import RtcpPacket, RtcpSdesPacket, RtcpSrPacket

from publicrooms.media import aiortc_adapter, rtcp
from publicrooms.media.reports import MAX_COMPOUND_BYTES, SenderReports, compounds
from publicrooms.media.stats import Counters


def _report(ssrc: int) -> bytes:
    cname = "{" + str(uuid.uuid4()) + "}"  # as aiortc names a connection
    return rtcp.sender_report(ssrc, rtcp.ntp_from_unix(1_800_000_000.5), 90_000 + ssrc, 1000, 1_000_000, cname)


def _session() -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=os.urandom(30), ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    return pylibsrtp.Session(policy)


@pytest.mark.parametrize("tracks", [1, 2, 18, 40])
def test_compounds_keep_every_report_in_order_and_each_packet_protectable(tracks: int) -> None:
    parts = [_report(1000 + n) for n in range(tracks)]
    packets = compounds(parts)
    assert b"".join(packets) == b"".join(parts)
    assert all(len(p) <= MAX_COMPOUND_BYTES for p in packets)
    assert all(len(packet) + len(parts[0]) > MAX_COMPOUND_BYTES for packet in packets[:-1])  # each one full
    session = _session()
    senders = []
    for packet in packets:
        session.protect_rtcp(packet)  # a single joined packet of 18 tracks was refused ("too long")
        parsed = RtcpPacket.parse(packet)
        assert isinstance(parsed[0], RtcpSrPacket)  # every compound starts with a report
        senders += [p.ssrc for p in parsed if isinstance(p, RtcpSrPacket)]
        assert sum(isinstance(p, RtcpSdesPacket) for p in parsed) == sum(isinstance(p, RtcpSrPacket) for p in parsed)
    assert senders == [1000 + n for n in range(tracks)]
    if tracks == 18:
        with pytest.raises(ValueError):  # what the split avoids
            session.protect_rtcp(b"".join(parts))


async def test_a_full_rooms_reports_leave_in_several_packets(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[bytes] = []

    async def send_rtcp(transport: object, data: bytes) -> None:
        _session().protect_rtcp(data)
        sent.append(data)

    monkeypatch.setattr(aiortc_adapter, "send_rtcp", send_rtcp)
    counters = Counters()
    reports = SenderReports(counters)
    parts = [_report(2000 + n) for n in range(18)]  # nine publishers' audio and video
    for part in parts:
        reports.add(object(), part)
    for _ in range(5):
        await asyncio.sleep(0)
    assert b"".join(sent) == b"".join(parts) and len(sent) == 2
    assert counters.sender_reports == 18 and counters.rtcp_compounds == 2


@pytest.mark.parametrize(("now", "expected"), [
    (10.0, 0.2),          # on a boundary: the next one
    (10.05, 0.15),        # a late wake-up: the next boundary
    (10.1999, 0.2001),    # woke just before the boundary it slept for: the one after it
    (10.16, 0.24),        # within a quarter period of a boundary: the one after it
])
def test_the_next_boundary_is_never_the_one_just_reached(now: float, expected: float) -> None:
    from publicrooms.media.reports import next_boundary_s

    wait = next_boundary_s(now, 0.2)
    assert wait == pytest.approx(expected, abs=1e-6)
    assert 0.05 <= wait <= 0.25
