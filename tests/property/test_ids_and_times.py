"""Message ids are random version 4 UUIDs as `uuid.uuid4()` writes them; wire times are
JavaScript's `toISOString()` of the same instant, whatever the zone of the moment given."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from publicrooms.ids import new_uuid
from publicrooms.services.views import iso


def test_new_uuid_is_a_random_version_4_uuid() -> None:
    made = [new_uuid() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    for text in made:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text
    # Every bit that is not the version or the variant varies.
    fixed = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
    ones = zeros = 0
    for text in made[:2000]:
        value = uuid.UUID(text).int & fixed
        ones |= value
        zeros |= ~value & fixed
    assert ones == zeros == fixed


zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                    timezones=st.one_of(st.just(timezone.utc), zones)))
def test_iso_is_javascripts_to_iso_string(moment: datetime) -> None:
    utc = moment.astimezone(timezone.utc)
    expected = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    assert iso(moment) == expected
