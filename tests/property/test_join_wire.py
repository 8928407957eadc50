"""A join's answer over Socket.IO, built from each seat's cached dump, is exactly the
JoinResponse model's wire (what REST answers), whatever the seats, messages and timer."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

import socketio.packet as sio_packet

from publicrooms.clock import FakeClock
from publicrooms.realtime.fanout_adapter import encode_ack
from publicrooms.schemas.base import COMPACT_JSON, EncodedWire
from publicrooms.schemas.rooms import JoinResponse
from publicrooms.services.rooms import JoinResult, RoomService
from publicrooms.services.views import room_view
from publicrooms.state.holds import MemoryHoldStore
from publicrooms.state.locks import MemoryLockStore
from publicrooms.state.seats import MemorySeatStore, Seat
from publicrooms.state.sessions import MemorySessionStore
from publicrooms.store.sql import MessageRecord, RoomRecord, UserRecord
from tests.property.test_message_wire import records
from tests.support.fakes import FakeSqlStore, RecordingBroadcaster

moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.just(timezone.utc))
seats = st.builds(Seat, room_id=st.just("study"), user_id=st.uuids().map(str),
                  display_name=st.text(min_size=1, max_size=40), joined_at=moments,
                  is_audio_enabled=st.booleans(), is_video_enabled=st.booleans(),
                  status=st.none() | st.text(max_size=80))


def _service() -> RoomService:
    clock = FakeClock()
    return RoomService(sql=FakeSqlStore(), seats=MemorySeatStore(), holds=MemoryHoldStore(clock),
                       locks=MemoryLockStore(), sessions=MemorySessionStore(),
                       broadcaster=RecordingBroadcaster(), clock=clock,
                       rooms=[RoomRecord("study", "Study", 10, 0)], system_capacity=10,
                       history_length=50, message_max=1000)


SERVICE = _service()


@given(st.lists(seats, max_size=12), st.lists(records, max_size=8),
       st.lists(st.fixed_dictionaries({"participantId": st.uuids().map(str),
                                       "kind": st.sampled_from(["audio", "video"]),
                                       "muted": st.booleans()}), max_size=3))
def test_the_socket_joins_answer_is_the_join_responses_wire(seated: list[Seat],
                                                            messages: list[MessageRecord],
                                                            media: list[dict]) -> None:
    now = datetime(2026, 12, 7, tzinfo=timezone.utc)
    user = UserRecord("u-1", "k1", "Ada", now, now)
    result = JoinResult(room=room_view("study", "Study", 10, len(seated)), seats=seated,
                        messages=messages, seated_now=True, media=media)
    wire = SERVICE.join_wire(result, user)
    expected = SERVICE.join_response(result, user).wire()
    assert wire == expected
    assert list(wire) == list(expected)  # same key order on the wire
    assert JoinResponse.model_validate(wire).wire() == wire
    # Its JSON, put together from each seat's and message's cached text, is what encoding the
    # dict gives, and the acknowledgement written is python-socketio's own, byte for byte.
    assert wire.json == json.dumps(expected, separators=(",", ":"))
    assert encode_ack("/public-room/study", 7, [wire]) == sio_packet.Packet(
        sio_packet.ACK, namespace="/public-room/study", id=7, data=[expected]).encode()
    # Each seat is dumped once and shared: the next join answers with the same dicts.
    assert all(a is b for a, b in zip(SERVICE.join_wire(result, user)["participants"],
                                      wire["participants"]))
    assert json.loads(SERVICE.join_wire(result, user).json) == expected


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=8)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6), st.data())
def test_an_encoded_wire_is_its_dicts_compact_json(wire: dict, data: st.DataObject) -> None:
    given_as_text = data.draw(st.sets(st.sampled_from(sorted(wire))) if wire else st.just(set()))
    encoded = EncodedWire(wire, {key: COMPACT_JSON.encode(wire[key]) for key in given_as_text})
    assert encoded == wire
    assert encoded.json == json.dumps(wire, separators=(",", ":"))
