"""Active speaker detection from the ssrc-audio-level header extension (no audio decoding)."""

from __future__ import annotations


class ActiveSpeaker:
    """Picks the loudest participant, switching only after they stay loudest for `hold_ticks`."""

    def __init__(self, threshold_dbov: int, hold_ticks: int = 2) -> None:
        # levels are 127 - attenuation, so louder is higher
        self._min_level = 127 - threshold_dbov
        self._hold_ticks = hold_ticks
        self._candidate: str | None = None
        self._candidate_ticks = 0
        self.current: str | None = None

    def update(self, levels: dict[str, float]) -> str | None:
        """Feed one interval's mean levels; returns the new speaker when it changes, else None."""
        loud = {pid: level for pid, level in levels.items() if level >= self._min_level}
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
            self._candidate, self._candidate_ticks = None, 0
            return loudest
        return None

    def forget(self, participant_id: str) -> None:
        if self.current == participant_id:
            self.current = None
        if self._candidate == participant_id:
            self._candidate, self._candidate_ticks = None, 0
