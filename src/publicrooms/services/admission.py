"""The system-capacity queue: first come, first seated. In memory here; Redis behind the same shape."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class QueueEntry:
    user_id: str
    room_id: str
    display_name: str
    notified_position: int = 0


class AdmissionQueue:
    def __init__(self) -> None:
        # dicts keep insertion order: iteration order is the queue order.
        self._entries: dict[str, QueueEntry] = {}

    def enqueue(self, user_id: str, room_id: str, display_name: str) -> int:
        """Add (or re-target) a waiting user; returns its 1-based position."""
        entry = self._entries.get(user_id)
        if entry is None:
            self._entries[user_id] = QueueEntry(user_id, room_id, display_name)
        else:
            entry.room_id, entry.display_name = room_id, display_name
        return self.position(user_id) or 0

    def position(self, user_id: str) -> int | None:
        for index, key in enumerate(self._entries, start=1):
            if key == user_id:
                return index
        return None

    def remove(self, user_id: str) -> QueueEntry | None:
        return self._entries.pop(user_id, None)

    def entries(self) -> list[QueueEntry]:
        return list(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def table_sizes(self) -> dict[str, int]:
        return {"queue": len(self._entries)}
