"""Header patching on raw bytes agrees with aiortc's own packet model."""

from __future__ import annotations

import pytest
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from hypothesis import given
from hypothesis import strategies as st

from publicrooms.media.keyframe import h264_starts_keyframe, vp8_starts_keyframe
from publicrooms.media.rtpheader import ExtensionRewriter, payload_bounds, unwrap_rtx, wrap_rtx

pytestmark = pytest.mark.media

MID, LEVEL, ABS = (
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
)


def extensions_map(ids: dict[str, int]) -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for u, i in ids.items()])
    )
    return extensions


@given(
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    level=st.integers(0, 127),
    payload=st.binary(min_size=1, max_size=200),
)
def test_extension_ids_are_renumbered_and_mid_blanked(seq, ts, level, payload):
    up = {MID: 4, LEVEL: 9, ABS: 7}
    down = {LEVEL: 2, ABS: 3}
    packet = RtpPacket(payload_type=111, sequence_number=seq, timestamp=ts, ssrc=1234, payload=payload)
    packet.extensions.mid = "a1"
    packet.extensions.audio_level = (True, level)
    packet.extensions.abs_send_time = 0x123456
    data = bytearray(packet.serialize(extensions_map(up)))

    rewriter = ExtensionRewriter({up[uri]: down.get(uri) for uri in up}, audio_level_id=up[LEVEL])
    assert rewriter.rewrite(data) == 0x80 | level

    parsed = RtpPacket.parse(bytes(data), extensions_map({**down, MID: 1}))
    assert parsed.extensions.mid is None
    assert parsed.extensions.audio_level == (True, level)
    assert parsed.extensions.abs_send_time == 0x123456
    assert parsed.payload == payload and parsed.sequence_number == seq


@given(payload=st.binary(min_size=1, max_size=100), padding=st.integers(0, 20))
def test_rtx_round_trip(payload, padding):
    packet = RtpPacket(payload_type=96, sequence_number=500, timestamp=9, ssrc=77, payload=payload)
    packet.marker = 1
    if padding:
        packet.padding_size = padding
    original = packet.serialize()
    rtx = wrap_rtx(original, payload_type=97, sequence=3, ssrc=88)
    parsed = RtpPacket.parse(rtx)
    assert (parsed.payload_type, parsed.sequence_number, parsed.ssrc) == (97, 3, 88)
    assert parsed.payload[:2] == (500).to_bytes(2, "big")
    back = RtpPacket.parse(unwrap_rtx(rtx, payload_type=96, ssrc=77))
    assert (back.payload_type, back.sequence_number, back.ssrc, back.marker) == (96, 500, 77, 1)
    assert back.payload == payload


def test_padding_only_packets_have_an_empty_payload():
    packet = RtpPacket(payload_type=96, sequence_number=1, timestamp=1, ssrc=1, payload=b"")
    packet.padding_size = 200
    data = packet.serialize()
    start, end = payload_bounds(data)
    assert end == start


def test_vp8_keyframe_detection():
    from aiortc.codecs.vpx import Vp8Encoder

    from .synthetic import barcode_frame

    encoder = Vp8Encoder()
    key_payloads, _ = encoder.encode(barcode_frame(1), force_keyframe=True)
    delta_payloads, _ = encoder.encode(barcode_frame(2))
    assert vp8_starts_keyframe(key_payloads[0], 0, len(key_payloads[0]))
    assert not any(vp8_starts_keyframe(p, 0, len(p)) for p in key_payloads[1:])
    assert not any(vp8_starts_keyframe(p, 0, len(p)) for p in delta_payloads)


def test_h264_keyframe_detection():
    idr = bytes([0x65, 0x88])
    sps_in_stap = bytes([0x78, 0x00, 0x02, 0x67, 0x42])
    fu_start_idr = bytes([0x7C, 0x85, 0x00])
    fu_middle_idr = bytes([0x7C, 0x05, 0x00])
    non_idr = bytes([0x41, 0x9A])
    for payload, expected in ((idr, True), (sps_in_stap, True), (fu_start_idr, True),
                              (fu_middle_idr, False), (non_idr, False)):
        assert h264_starts_keyframe(payload, 0, len(payload)) is expected, payload.hex()
