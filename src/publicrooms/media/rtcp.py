"""RTCP messages the SFU originates (off the hot path, so aiortc's public packet classes are fine)."""

from __future__ import annotations

from aiortc import rtp

NTP_UNIX_OFFSET_S = 2_208_988_800


def ntp_from_unix(unix_s: float) -> int:
    """64-bit NTP timestamp for a Unix time."""
    return int((unix_s + NTP_UNIX_OFFSET_S) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_ms_from_unix(unix_s: float) -> int:
    """Milliseconds since the NTP epoch (aiortc's arrival-time unit)."""
    return int((unix_s + NTP_UNIX_OFFSET_S) * 1000)


def sender_report(
    ssrc: int, ntp: int, rtp_timestamp: int, packets: int, octets: int, cname: str | None
) -> bytes:
    sr = rtp.RtcpSrPacket(
        ssrc=ssrc,
        sender_info=rtp.RtcpSenderInfo(
            ntp_timestamp=ntp,
            rtp_timestamp=rtp_timestamp & 0xFFFFFFFF,
            packet_count=packets & 0xFFFFFFFF,
            octet_count=octets & 0xFFFFFFFF,
        ),
    )
    data = bytes(sr)
    if cname:
        data += bytes(
            rtp.RtcpSdesPacket(
                chunks=[rtp.RtcpSourceInfo(ssrc=ssrc, items=[(1, cname.encode("utf8"))])]
            )
        )
    return data


def bye(ssrc: int) -> bytes:
    return bytes(rtp.RtcpByePacket(sources=[ssrc]))


def receiver_report(sender_ssrc: int, media_ssrc: int, highest_seq: int, lost: int, fraction_lost: int) -> bytes:
    report = rtp.RtcpReceiverInfo(
        ssrc=media_ssrc,
        fraction_lost=fraction_lost & 0xFF,
        packets_lost=lost,
        highest_sequence=highest_seq,
        jitter=0,
        lsr=0,
        dlsr=0,
    )
    return bytes(rtp.RtcpRrPacket(ssrc=sender_ssrc, reports=[report]))


def pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    return bytes(rtp.RtcpPsfbPacket(fmt=rtp.RTCP_PSFB_PLI, ssrc=sender_ssrc, media_ssrc=media_ssrc))


def nack(sender_ssrc: int, media_ssrc: int, lost: list[int]) -> bytes:
    packet = rtp.RtcpRtpfbPacket(fmt=rtp.RTCP_RTPFB_NACK, ssrc=sender_ssrc, media_ssrc=media_ssrc)
    packet.lost = sorted(lost)
    return bytes(packet)


def remb(sender_ssrc: int, bitrate_bps: int, media_ssrcs: list[int]) -> bytes:
    return bytes(
        rtp.RtcpPsfbPacket(
            fmt=rtp.RTCP_PSFB_APP,
            ssrc=sender_ssrc,
            media_ssrc=0,
            fci=rtp.pack_remb_fci(bitrate_bps, media_ssrcs),
        )
    )


# feedback a down track reacts to
is_nack = lambda p: isinstance(p, rtp.RtcpRtpfbPacket) and p.fmt == rtp.RTCP_RTPFB_NACK  # noqa: E731
is_keyframe_request = (  # noqa: E731
    lambda p: isinstance(p, rtp.RtcpPsfbPacket) and p.fmt in (rtp.RTCP_PSFB_PLI, rtp.RTCP_PSFB_FIR)
)
is_receiver_report = lambda p: isinstance(p, (rtp.RtcpRrPacket, rtp.RtcpSrPacket))  # noqa: E731
