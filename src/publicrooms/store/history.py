"""Each room's newest messages, kept beside the database by the one process that writes them.

A join answers with the room's recent history; without this it reads it from the database each
time (in a connect storm, one more statement per join). A room's history is read once, then
kept: every message committed afterwards is added to it, in commit order, so what a join gets is
what the database would have answered.

Kept only where this process is the database's only writer (one node on its SQLite file). A
read is kept only if no insert for its room was under way or began while it ran, so it cannot
miss one; an insert that could not tell whether it committed (cancelled mid-wait), and every
deletion of messages (users deleted with theirs), forget what is kept.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from publicrooms.store.sql import MessageRecord


class RecentHistory:
    def __init__(self) -> None:
        self._kept: dict[str, deque[MessageRecord]] = {}
        self._writing: dict[str, int] = {}  # room -> inserts under way
        self._started: dict[str, int] = {}  # room -> inserts begun, ever
        self._epoch = 0  # moves on every forgetting: reads begun before it are not kept

    def get(self, room_id: str, limit: int) -> list[MessageRecord] | None:
        kept = self._kept.get(room_id)
        if kept is None or kept.maxlen is None or kept.maxlen < limit:
            return None
        return list(kept)[-limit:] if limit < len(kept) else list(kept)

    def reading(self, room_id: str) -> tuple | None:
        """A token for a read about to start; None: no insert may be missed, do not keep it."""
        if self._writing.get(room_id):
            return None
        return (self._epoch, self._started.get(room_id, 0))

    def read(self, room_id: str, token: tuple | None, records: Sequence[MessageRecord],
             limit: int) -> None:
        """Keep what a read begun with `token` returned (the newest `limit`, oldest first)."""
        if token is None or token != (self._epoch, self._started.get(room_id, 0)) \
                or self._writing.get(room_id):
            return
        self._kept[room_id] = deque(records, maxlen=limit)

    def writing(self, rooms: Iterable[str]) -> None:
        for room in rooms:
            self._writing[room] = self._writing.get(room, 0) + 1
            self._started[room] = self._started.get(room, 0) + 1

    def written(self, records: Sequence[MessageRecord], rooms: Iterable[str], *,
                committed: bool | None) -> None:
        """An insert of `records` ended: committed, rolled back (False), or unknown (None)."""
        for room in rooms:
            left = self._writing.get(room, 0) - 1
            if left > 0:
                self._writing[room] = left
            else:
                self._writing.pop(room, None)
        if committed is None:
            self.forget()
        elif committed:
            for record in records:
                kept = self._kept.get(record.room_id)
                if kept is not None:
                    kept.append(record)

    def forget(self) -> None:
        self._kept.clear()
        self._epoch += 1
