"""A chat message's wire dict, built directly, is exactly what its model gives."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from publicrooms.schemas.rooms import MessageRead, MessageSent
from publicrooms.services.views import message_view, message_wire
from publicrooms.store.sql import MessageRecord

records = st.builds(
    MessageRecord,
    id=st.uuids().map(str),
    room_id=st.text(min_size=1, max_size=40),
    user_id=st.text(min_size=1, max_size=40),
    sender_name=st.text(max_size=60),
    content=st.text(max_size=500),
    created_at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                            timezones=st.sampled_from([timezone.utc, None]))
    .map(lambda d: d if d.tzinfo else d.replace(tzinfo=timezone.utc)),
)


@given(records)
def test_message_wire_is_the_models_wire(record: MessageRecord) -> None:
    wire = message_wire(record)
    assert wire == message_view(record).wire()
    assert list(wire) == list(message_view(record).wire())  # same key order on the wire
    assert MessageRead.model_validate(wire).wire() == wire


@given(records)
def test_the_acknowledgement_is_a_message_sent(record: MessageRecord) -> None:
    ack = {"success": True, "message": message_wire(record)}  # what send-message answers
    assert MessageSent.model_validate(ack).wire() == ack == MessageSent(message=message_view(record)).wire()
