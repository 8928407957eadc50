"""Keyframe detection from RTP payload bytes, without depacketising or decoding."""

from __future__ import annotations

from typing import Callable

KeyframeTest = Callable[[bytes, int, int], bool]


def vp8_starts_keyframe(packet: bytes, start: int, end: int) -> bool:
    """True for the first packet of a VP8 keyframe (RFC 7741 section 4)."""
    if end - start < 1:
        return False
    descriptor = packet[start]
    # S bit set and partition index 0: this packet starts a frame
    if not descriptor & 0x10 or descriptor & 0x07:
        return False
    pos = start + 1
    if descriptor & 0x80:  # X: extension byte follows
        if pos >= end:
            return False
        ext = packet[pos]
        pos += 1
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if pos >= end:
                return False
            pos += 2 if packet[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/KEYIDX byte
            pos += 1
    if pos >= end:
        return False
    # VP8 frame tag: P bit (inverse key frame flag) is bit 0
    return not packet[pos] & 0x01


def h264_starts_keyframe(packet: bytes, start: int, end: int) -> bool:
    """True when the packet carries an IDR slice or SPS (RFC 6184)."""
    if end - start < 1:
        return False
    nal_type = packet[start] & 0x1F
    if nal_type in (5, 7):
        return True
    if nal_type == 24:  # STAP-A: 16-bit size, then the NAL unit
        pos = start + 1
        while pos + 2 < end:
            size = (packet[pos] << 8) | packet[pos + 1]
            if packet[pos + 2] & 0x1F in (5, 7):
                return True
            pos += 2 + size
        return False
    if nal_type == 28 and end - start >= 2:  # FU-A start fragment
        header = packet[start + 1]
        return bool(header & 0x80) and (header & 0x1F) in (5, 7)
    return False


def keyframe_test(mime_type: str) -> KeyframeTest | None:
    """The detector for a codec, or None when forwarding need not wait for a keyframe."""
    mime = mime_type.lower()
    if mime == "video/vp8":
        return vp8_starts_keyframe
    if mime == "video/h264":
        return h264_starts_keyframe
    # audio, or a video codec we cannot parse: forward at once (subscribers' PLIs still work)
    return None
