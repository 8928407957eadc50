"""RTP header access on raw bytes: the forwarding path patches headers instead of rebuilding packets.

An aiortc `RtpPacket` parse + serialize costs ~5 µs; reading and patching a few header bytes
with `struct` costs well under 1 µs, so the SFU never builds packet objects for forwarded media.
"""

from __future__ import annotations

import struct

_HEADER = struct.Struct("!BBHII")  # flags, marker|pt, sequence, timestamp, ssrc
_SEQ_TS = struct.Struct("!HI")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE_MASK = 0xFFF0
TWO_BYTE_PROFILE = 0x1000

unpack_header = _HEADER.unpack_from
pack_seq_ts = _SEQ_TS.pack_into
pack_u16 = _U16.pack_into
pack_u32 = _U32.pack_into
unpack_u16 = _U16.unpack_from


def header_length(packet: bytes | bytearray) -> int:
    """Length of the fixed header, CSRC list and header extension, or -1 when truncated."""
    length = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        if len(packet) < length + 4:
            return -1
        length += 4 + 4 * _U16.unpack_from(packet, length + 2)[0]
    return length if length <= len(packet) else -1


def payload_bounds(packet: bytes | bytearray) -> tuple[int, int]:
    """(start, end) of the payload, excluding RTP padding; (-1, -1) when malformed."""
    start = header_length(packet)
    if start < 0:
        return -1, -1
    end = len(packet)
    if packet[0] & 0x20:
        end -= packet[-1]
    if end < start:
        return -1, -1
    return start, end


class ExtensionRewriter:
    """Renumbers header extensions from the publisher's ids to the subscribers' ids.

    Elements with no subscriber id (e.g. the publisher's `mid`, which would misroute packets
    in the subscriber's BUNDLE demuxer) are overwritten with zero bytes, which RFC 8285 defines
    as padding, so the packet length never changes and nothing has to be moved.
    """

    def __init__(self, id_map: dict[int, int | None], audio_level_id: int | None = None) -> None:
        table: list[int] = [0] * 256
        for up_id, down_id in id_map.items():
            table[up_id] = down_id if down_id is not None else 0
        # ids the publisher did not negotiate but sends anyway are dropped too
        self._table = bytes(table)
        self._audio_level_id = audio_level_id or 0
        # the same map for the compiled forward (one-byte ids 1-14 both ways), or None
        self.one_byte_ids = self._table[:16] if all(i < 15 for i in self._table[:16]) else None
        self.audio_level_id = self._audio_level_id

    def rewrite(self, packet: bytearray) -> int:
        """Rewrite ids in place; returns the ssrc-audio-level byte (0x80 bit = voice) or -1."""
        offset = 12 + 4 * (packet[0] & 0x0F)
        if len(packet) < offset + 4:
            return -1
        profile = _U16.unpack_from(packet, offset)[0]
        end = offset + 4 + 4 * _U16.unpack_from(packet, offset + 2)[0]
        if end > len(packet):
            return -1
        pos = offset + 4
        table = self._table
        level = -1
        if profile == ONE_BYTE_PROFILE:
            while pos < end:
                byte = packet[pos]
                if byte == 0:
                    pos += 1
                    continue
                ext_id = byte >> 4
                size = (byte & 0x0F) + 1
                if ext_id == 15:
                    break
                if ext_id == self._audio_level_id and pos + 1 < end:
                    level = packet[pos + 1]
                new_id = table[ext_id]
                if new_id:
                    packet[pos] = (new_id << 4) | (byte & 0x0F)
                else:
                    packet[pos : pos + 1 + size] = bytes(1 + size)
                pos += 1 + size
        elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
            while pos + 1 < end:
                ext_id = packet[pos]
                if ext_id == 0:
                    pos += 1
                    continue
                size = packet[pos + 1]
                if ext_id == self._audio_level_id and pos + 2 < end:
                    level = packet[pos + 2]
                new_id = table[ext_id] if ext_id < 256 else 0
                if new_id:
                    packet[pos] = new_id
                else:
                    packet[pos : pos + 2 + size] = bytes(2 + size)
                pos += 2 + size
        return level


def wrap_rtx(packet: bytes, payload_type: int, sequence: int, ssrc: int) -> bytes:
    """RFC 4588 retransmission packet: original sequence number prepended to the payload."""
    start, end = payload_bounds(packet)
    if start < 0:
        return b""
    header = bytearray(packet[:start])
    header[0] &= ~0x20 & 0xFF  # the padding is not carried over
    header[1] = (header[1] & 0x80) | payload_type
    original_seq = packet[2:4]
    pack_u16(header, 2, sequence)
    pack_u32(header, 8, ssrc)
    return bytes(header) + original_seq + packet[start:end]


def unwrap_rtx(packet: bytes, payload_type: int, ssrc: int) -> bytes:
    """The original packet inside an RFC 4588 retransmission, or b"" if malformed."""
    start, end = payload_bounds(packet)
    if start < 0 or end - start < 2:
        return b""
    header = bytearray(packet[:start])
    header[0] &= ~0x20 & 0xFF
    header[1] = (header[1] & 0x80) | payload_type
    header[2:4] = packet[start : start + 2]
    pack_u32(header, 8, ssrc)
    return bytes(header) + packet[start + 2 : end]
