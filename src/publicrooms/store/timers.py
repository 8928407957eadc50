"""Room timer records: the durable copy of each room's timer. Every statement is parameterised."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from publicrooms.state.timers import TimerState
from publicrooms.store import models
from publicrooms.store.database import session_factory


class TimerRecords:
    def __init__(self, engine: AsyncEngine) -> None:
        self._session: async_sessionmaker = session_factory(engine)

    async def load_all(self) -> dict[str, TimerState]:
        async with self._session() as session:
            rows = (await session.scalars(select(models.RoomTimer))).all()
        return {row.room_id: TimerState.decode(row.state) for row in rows}

    async def save(self, room_id: str, state: TimerState, now: datetime) -> None:
        """Keep `state` unless a newer version is stored already (nodes may save out of order)."""
        for _ in range(2):
            async with self._session() as session, session.begin():
                result = await session.execute(
                    update(models.RoomTimer)
                    .where(models.RoomTimer.room_id == room_id,
                           models.RoomTimer.version < state.version)
                    .values(state=state.encode(), version=state.version, updated_at=now))
                if result.rowcount:
                    return
                exists = await session.scalar(
                    select(models.RoomTimer.room_id).where(models.RoomTimer.room_id == room_id))
                if exists is not None:
                    return  # a newer version is there
            try:
                async with self._session() as session, session.begin():
                    session.add(models.RoomTimer(room_id=room_id, state=state.encode(),
                                                 version=state.version, updated_at=now))
                return
            except IntegrityError:
                continue  # another node inserted it first: compare versions again
