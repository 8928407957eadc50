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
