"""A join's answer over Socket.IO, built from each seat's cached dump, is exactly the
JoinResponse model's wire (what REST answers), whatever the seats, messages and timer."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from publicrooms.clock import FakeClock
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
    # Each seat is dumped once and shared: the next join answers with the same dicts.
    assert all(a is b for a, b in zip(SERVICE.join_wire(result, user)["participants"],
                                      wire["participants"]))
