"""Active speaker detection from the ssrc-audio-level header extension (no audio decoding)."""

from __future__ import annotations


NOBODY = ""  # update()'s answer when the speaker went quiet and nobody replaced them


class ActiveSpeaker:
    """Picks the loudest participant, switching only after they stay loudest for `hold_ticks`."""

    def __init__(self, threshold_dbov: int, hold_ticks: int = 2, silence_ticks: int = 7) -> None:
        # levels are 127 - attenuation, so louder is higher
        self._min_level = 127 - threshold_dbov
        self._hold_ticks = hold_ticks
        # A speaker quiet (or muted) this many intervals in a row is no longer speaking.
        self._silence_ticks = silence_ticks
        self._quiet_ticks = 0
        self._candidate: str | None = None
        self._candidate_ticks = 0
        self.current: str | None = None

    def update(self, levels: dict[str, float]) -> str | None:
        """Feed one interval's mean levels; returns the new speaker when it changes, NOBODY when
        the speaker fell silent, else None."""
        loud = {pid: level for pid, level in levels.items() if level >= self._min_level}
        if self.current is not None and self.current not in loud:
            self._quiet_ticks += 1
            if self._quiet_ticks >= self._silence_ticks:
                self.current, self._quiet_ticks = None, 0
                self._candidate, self._candidate_ticks = None, 0
                return NOBODY
        else:
            self._quiet_ticks = 0
        if not loud:
            self._candidate, self._candidate_ticks = None, 0
            return None
        loudest = max(loud, key=loud.__getitem__)
        if loudest == self.current:
            self._candidate, self._candidate_ticks = None, 0
            return None
        if loudest == self._candidate:
            self._candidate_ticks += 1
        else:
            self._candidate, self._candidate_ticks = loudest, 1
        if self._candidate_ticks >= self._hold_ticks or self.current is None:
            self.current = loudest
            self._candidate, self._candidate_ticks, self._quiet_ticks = None, 0, 0
            return loudest
        return None

    def forget(self, participant_id: str) -> None:
        if self.current == participant_id:
            self.current = None
        if self._candidate == participant_id:
            self._candidate, self._candidate_ticks = None, 0
