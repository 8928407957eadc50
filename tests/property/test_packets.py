"""The server's Socket.IO packets (fanout_adapter.LeanPacket) put on the wire exactly what
python-socketio's own would, binary payloads included, and read back what they read."""

from __future__ import annotations

import socketio.packet as sio_packet
from hypothesis import given
from hypothesis import strategies as st

from publicrooms.realtime.fanout_adapter import LeanPacket

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
payloads = st.recursive(scalars | st.binary(max_size=8),
                        lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                        max_leaves=12)
namespaces = st.sampled_from([None, "/", "/public-room/deep-focus"])


@given(kind=st.sampled_from([sio_packet.EVENT, sio_packet.ACK]), data=st.lists(payloads,
       min_size=1, max_size=3), namespace=namespaces,
       ack_id=st.one_of(st.none(), st.integers(0, 10**6)))
def test_a_packet_encodes_as_python_socketio_s_does(kind: int, data: list, namespace: str | None,
                                                    ack_id: int | None) -> None:
    lean = LeanPacket(kind, data=data, namespace=namespace, id=ack_id)
    stock = sio_packet.Packet(kind, data=data, namespace=namespace, id=ack_id)
    assert lean.packet_type == stock.packet_type  # binary payloads become binary packets
    assert lean.encode() == stock.encode()


@given(data=st.lists(scalars, min_size=1, max_size=4), namespace=namespaces,
       ack_id=st.one_of(st.none(), st.integers(0, 10**6)))
def test_a_packet_decodes_as_python_socketio_s_does(data: list, namespace: str | None,
                                                    ack_id: int | None) -> None:
    text = sio_packet.Packet(sio_packet.EVENT, data=data, namespace=namespace,
                             id=ack_id).encode()
    lean, stock = LeanPacket(encoded_packet=text), sio_packet.Packet(encoded_packet=text)
    assert (lean.packet_type, lean.namespace, lean.id, lean.data) == \
        (stock.packet_type, stock.namespace, stock.id, stock.data)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(), st.text()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=16)


@given(json_values, st.sampled_from(["", " ", "\n"]), st.sampled_from(["", " ", "x", "]"]))
def test_the_json_codec_is_the_json_module_s(value: object, before: str, after: str) -> None:
    """The encoder built once and the direct scan give what `json.dumps` (compact) and
    `json.loads` give, errors included."""
    import json
    import math

    from publicrooms.realtime import fanout_adapter

    text = fanout_adapter._dumps(value)
    assert text == json.dumps(value, separators=(",", ":"))
    framed = before + text + after
    try:
        expected = json.loads(framed)
    except ValueError as error:
        try:
            fanout_adapter._decode(framed)
        except ValueError as ours:
            assert str(ours) == str(error)
        else:
            raise AssertionError(f"{framed!r} decoded") from None
        return
    decoded = fanout_adapter._decode(framed)
    same = json.dumps(decoded, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert same or any(isinstance(v, float) and math.isnan(v) for v in _leaves(expected))


def _leaves(value: object) -> list:
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    return [value]
