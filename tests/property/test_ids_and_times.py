"""Message ids are time-ordered random version 7 UUIDs as `uuid.UUID` writes them; wire times are
JavaScript's `toISOString()` of the same instant, whatever the zone of the moment given."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from publicrooms.ids import new_time_ordered_uuid
from publicrooms.services.views import iso


def test_a_message_id_is_a_version_7_uuid_of_its_moment_with_random_bits() -> None:
    moment = datetime(2026, 12, 4, 14, 45, 3, 123999, tzinfo=timezone.utc)
    made = [new_time_ordered_uuid(moment) for _ in range(20_000)]
    assert len(set(made)) == len(made)
    millis = int(moment.timestamp()) * 1000 + 123
    for text in made:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert str(parsed) == text
        assert parsed.int >> 80 == millis  # the first 48 bits: Unix time in milliseconds
    # Every bit that is not the time, the version or the variant varies.
    fixed = ~((((1 << 48) - 1) << 80) | (0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
    ones = zeros = 0
    for text in made[:2000]:
        value = uuid.UUID(text).int & fixed
        ones |= value
        zeros |= ~value & fixed
    assert ones == zeros == fixed


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1),
                    timezones=st.just(timezone.utc)),
       st.timedeltas(min_value=timedelta(milliseconds=1), max_value=timedelta(days=3650)))
def test_message_ids_sort_in_the_order_of_their_moments(moment: datetime,
                                                         later: timedelta) -> None:
    # A later millisecond gives a greater id, in any zone the moment is written in.
    first, second = moment, (moment + later).astimezone(timezone(timedelta(hours=-5)))
    assert new_time_ordered_uuid(first) < new_time_ordered_uuid(second)


zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                    timezones=st.one_of(st.just(timezone.utc), zones)))
def test_iso_is_javascripts_to_iso_string(moment: datetime) -> None:
    utc = moment.astimezone(timezone.utc)
    expected = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    assert iso(moment) == expected
