"""Active-speaker choice: the loudest wins after a hold; a speaker who goes quiet is cleared."""

from __future__ import annotations

from publicrooms.media.speaker import NOBODY, ActiveSpeaker

LOUD, QUIET = 100, 20  # levels (127 - dBov); the threshold below is 50 dBov -> level 77


def test_speaker_is_cleared_after_silence_and_after_a_mute() -> None:
    speaker = ActiveSpeaker(50, hold_ticks=2, silence_ticks=3)
    assert speaker.update({"ada": LOUD}) == "ada"
    assert speaker.update({"ada": LOUD}) is None  # unchanged
    assert speaker.update({"ada": QUIET}) is None
    assert speaker.update({"ada": QUIET}) is None
    assert speaker.update({"ada": QUIET}) == NOBODY
    assert speaker.current is None
    assert speaker.update({}) is None  # nobody stays nobody
    assert speaker.update({"bo": LOUD}) == "bo"
    # A muted speaker sends no level at all: the same clears them.
    assert [speaker.update({}) for _ in range(3)] == [None, None, NOBODY]


def test_a_pause_shorter_than_the_silence_keeps_the_speaker() -> None:
    speaker = ActiveSpeaker(50, hold_ticks=2, silence_ticks=3)
    assert speaker.update({"ada": LOUD}) == "ada"
    for _ in range(5):
        assert speaker.update({"ada": QUIET}) is None
        assert speaker.update({"ada": QUIET}) is None
        assert speaker.update({"ada": LOUD}) is None
    assert speaker.current == "ada"
    # Someone louder takes over only after the hold.
    assert speaker.update({"ada": LOUD - 10, "bo": LOUD}) is None
    assert speaker.update({"ada": LOUD - 10, "bo": LOUD}) == "bo"
