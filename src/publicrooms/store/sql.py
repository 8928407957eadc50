"""SQL repository: the only code that writes queries. Every statement is parameterised.

On a SQLite file the hot ones (chat inserts, what a join reads and writes) run on the file's
own thread (`sqlite_direct`), compiled from the same SQLAlchemy statements; the rest, and every
statement on PostgreSQL, go through the async engine."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from publicrooms.store import models
from publicrooms.store.database import session_factory
from publicrooms.store.history import RecentHistory
from publicrooms.store.sqlite_direct import Prepared, SqliteDirect, read_time


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    ip_key: str
    display_name: str
    created_at: datetime
    last_active_at: datetime


@dataclass(frozen=True, slots=True)
class RoomRecord:
    id: str
    name: str
    capacity: int
    position: int


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: str
    room_id: str
    user_id: str
    sender_name: str
    content: str
    created_at: datetime


def _utc(value: datetime) -> datetime:
    # SQLite hands datetimes back naive; they were stored as UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _user(row: models.User | Row) -> UserRecord:
    return UserRecord(row.id, row.ip_key, row.display_name, _utc(row.created_at),
                      _utc(row.last_active_at))


def _message(row: models.Message | Row) -> MessageRecord:
    return MessageRecord(row.id, row.room_id, row.user_id, row.sender_name, row.content,
                         _utc(row.created_at))


# Chat writers on several nodes take turns per room from insert to fan-out (a PostgreSQL
# advisory lock keyed by the room: other rooms' chat does not wait).
CHAT_LOCK = 0x63686174  # "chat"
_CHAT_LOCK = text("SELECT pg_advisory_lock(:key, hashtext(:room))")
_CHAT_UNLOCK = text("SELECT pg_advisory_unlock(:key, hashtext(:room))")
_INSERT_MESSAGE = insert(models.Message.__table__)

# What a join reads and writes, as core statements built once (a join ran three ORM sessions,
# most of its CPU): the user upserted in one statement, the participant record inserted
# unless present, the room's recent chat read.
_USERS = models.User.__table__
_USER_COLUMNS = (_USERS.c.id, _USERS.c.ip_key, _USERS.c.display_name, _USERS.c.created_at,
                 _USERS.c.last_active_at)
_USER_BY_ID = select(*_USER_COLUMNS).where(_USERS.c.id == bindparam("user_id"))
_USER_BY_IP_KEY = select(*_USER_COLUMNS).where(_USERS.c.ip_key == bindparam("ip_key"))
_TOUCH_USER = (update(_USERS)
               .where(_USERS.c.id == bindparam("user_id"),
                      _USERS.c.last_active_at < bindparam("when"))
               .values(last_active_at=bindparam("when")))
_PARTICIPANTS = models.Participant.__table__
_MESSAGES = models.Message.__table__
_RECENT_MESSAGES = (
    select(_MESSAGES.c.id, _MESSAGES.c.room_id, _MESSAGES.c.user_id, _MESSAGES.c.sender_name,
           _MESSAGES.c.content, _MESSAGES.c.created_at)
    .where(_MESSAGES.c.room_id == bindparam("room_id"))
    .order_by(_MESSAGES.c.seq.desc()).limit(bindparam("limit")))
_REMOVE_PARTICIPANT = delete(_PARTICIPANTS).where(_PARTICIPANTS.c.user_id == bindparam("user_id"))


def _join_statements(insert_of) -> tuple:  # noqa: ANN001 - the dialect's insert
    """The dialect's upsert of a user (renamed when it exists) and insert-if-absent of a
    participant record; both dialects spell ON CONFLICT alike."""
    user = insert_of(_USERS)
    upsert_user = user.on_conflict_do_update(
        index_elements=[_USERS.c.ip_key],
        set_={"display_name": user.excluded.display_name,
              "last_active_at": user.excluded.last_active_at},
    ).returning(*_USER_COLUMNS)
    add_participant = insert_of(_PARTICIPANTS).on_conflict_do_nothing(
        index_elements=[_PARTICIPANTS.c.room_id, _PARTICIPANTS.c.user_id])
    return upsert_user, add_participant


_JOIN_STATEMENTS = {"postgresql": _join_statements(postgresql.insert),
                    "sqlite": _join_statements(sqlite.insert)}

# The same statements as a SQLite file's thread runs them (see sqlite_direct).
_DIRECT_UPSERT_USER = Prepared(_JOIN_STATEMENTS["sqlite"][0],
                               ("id", "ip_key", "display_name", "created_at", "last_active_at"))
_DIRECT_ADD_PARTICIPANT = Prepared(_JOIN_STATEMENTS["sqlite"][1],
                                   ("room_id", "user_id", "joined_at", "is_audio_enabled",
                                    "is_video_enabled"))
_DIRECT_USER_BY_ID = Prepared(_USER_BY_ID)
_DIRECT_USER_BY_IP_KEY = Prepared(_USER_BY_IP_KEY)
_DIRECT_RECENT_MESSAGES = Prepared(_RECENT_MESSAGES)
_DIRECT_REMOVE_PARTICIPANT = Prepared(_REMOVE_PARTICIPANT)


def _direct_user(row: tuple) -> UserRecord:
    return UserRecord(row[0], row[1], row[2], read_time(row[3]), read_time(row[4]))


def _direct_message(row: tuple) -> MessageRecord:
    return MessageRecord(row[0], row[1], row[2], row[3], row[4], read_time(row[5]))


class SqlStore:
    """Durable records: users, rooms, participants, messages."""

    def __init__(self, engine: AsyncEngine, *, sole_writer: bool = False) -> None:
        """`sole_writer`: no other process writes this database's messages (one node), so a
        SQLite file's recent history can be kept in memory (see history)."""
        self.engine = engine
        self._session: async_sessionmaker = session_factory(engine)
        self._upsert_user, self._add_participant = _JOIN_STATEMENTS[engine.dialect.name]
        # A SQLite file's chat and join statements go through a thread of their own (see
        # sqlite_direct); everything else, and every other database, through the engine.
        database = engine.url.database
        self._direct = SqliteDirect(database) if (
            engine.dialect.name == "sqlite" and database and database != ":memory:"
            and "mode=memory" not in str(engine.url)) else None
        self._history = RecentHistory() if self._direct is not None and sole_writer else None

    async def close(self) -> None:
        if self._direct is not None:
            await asyncio.to_thread(self._direct.close)
        await self.engine.dispose()

    # users ---------------------------------------------------------------------------------

    async def upsert_user(self, *, ip_key: str, display_name: str, now: datetime) -> UserRecord:
        """The user of this IP key, created or renamed (one statement: two first requests
        from one address cannot both create it)."""
        params = {"id": str(uuid.uuid4()), "ip_key": ip_key, "display_name": display_name,
                  "created_at": now, "last_active_at": now}
        if self._direct is not None:
            (row,) = await self._direct.fetch(_DIRECT_UPSERT_USER, params)
            return _direct_user(row)
        async with self.engine.begin() as connection:
            row = (await connection.execute(self._upsert_user, params)).one()
        return _user(row)

    async def get_user(self, user_id: str) -> UserRecord | None:
        if self._direct is not None:
            rows = await self._direct.fetch(_DIRECT_USER_BY_ID, {"user_id": user_id})
            return _direct_user(rows[0]) if rows else None
        async with self.engine.connect() as connection:
            row = (await connection.execute(_USER_BY_ID, {"user_id": user_id})).first()
        return _user(row) if row else None

    async def get_user_by_ip_key(self, ip_key: str) -> UserRecord | None:
        if self._direct is not None:
            rows = await self._direct.fetch(_DIRECT_USER_BY_IP_KEY, {"ip_key": ip_key})
            return _direct_user(rows[0]) if rows else None
        async with self.engine.connect() as connection:
            row = (await connection.execute(_USER_BY_IP_KEY, {"ip_key": ip_key})).first()
        return _user(row) if row else None

    async def touch_users(self, last_active: dict[str, datetime]) -> None:
        """Record last activity for many users at once (only ever forward: two nodes' sweeps
        may write overlapping batches in either order)."""
        if not last_active:
            return
        async with self.engine.begin() as connection:
            await connection.execute(_TOUCH_USER, [{"user_id": u, "when": when}
                                                   for u, when in last_active.items()])

    async def inactive_users(self, before: datetime) -> list[UserRecord]:
        async with self._session() as session:
            rows = await session.scalars(
                select(models.User).where(models.User.last_active_at < before)
            )
            return [_user(row) for row in rows]

    async def delete_users(self, user_ids: Sequence[str]) -> int:
        """Delete users; their participation and messages go with them (cascade)."""
        if not user_ids:
            return 0
        if self._history is not None:
            self._history.forget()  # their messages go; a read during the delete is not kept
        try:
            async with self._session() as session, session.begin():
                result = await session.execute(
                    delete(models.User).where(models.User.id.in_(list(user_ids)))
                )
                return result.rowcount or 0
        finally:
            if self._history is not None:
                self._history.forget()

    # rooms ---------------------------------------------------------------------------------

    async def sync_rooms(self, rooms: Sequence[RoomRecord], now: datetime) -> None:
        """Create configured rooms that are missing and update names/capacities of the rest."""
        async with self._session() as session, session.begin():
            if self.engine.dialect.name == "postgresql":
                # Nodes starting together take turns, as for migrations.
                from publicrooms.store.database import MIGRATION_LOCK

                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                      {"key": MIGRATION_LOCK})
            existing = {row.id: row for row in await session.scalars(select(models.Room))}
            for room in rooms:
                row = existing.get(room.id)
                if row is None:
                    session.add(models.Room(id=room.id, name=room.name, capacity=room.capacity,
                                            position=room.position, created_at=now))
                else:
                    row.name, row.capacity, row.position = room.name, room.capacity, room.position

    async def list_rooms(self) -> list[RoomRecord]:
        async with self._session() as session:
            rows = await session.scalars(select(models.Room).order_by(models.Room.position))
            return [RoomRecord(r.id, r.name, r.capacity, r.position) for r in rows]

    # participants --------------------------------------------------------------------------

    async def add_participant(self, *, room_id: str, user_id: str, joined_at: datetime) -> None:
        params = {"room_id": room_id, "user_id": user_id, "joined_at": joined_at,
                  "is_audio_enabled": False, "is_video_enabled": False}
        if self._direct is not None:
            await self._direct.execute(_DIRECT_ADD_PARTICIPANT, params)
            return
        async with self.engine.begin() as connection:
            await connection.execute(self._add_participant, params)

    async def remove_participant(self, *, user_id: str) -> None:
        if self._direct is not None:
            await self._direct.execute(_DIRECT_REMOVE_PARTICIPANT, {"user_id": user_id})
            return
        async with self.engine.begin() as connection:
            await connection.execute(_REMOVE_PARTICIPANT, {"user_id": user_id})

    async def set_participant_media(self, *, user_id: str, kind: str, enabled: bool) -> None:
        column = "is_video_enabled" if kind == "video" else "is_audio_enabled"
        async with self._session() as session, session.begin():
            await session.execute(
                update(models.Participant).where(models.Participant.user_id == user_id)
                .values({column: enabled})
            )

    async def clear_participants(self) -> None:
        """Forget every seat (live presence did not survive a restart)."""
        async with self._session() as session, session.begin():
            await session.execute(delete(models.Participant))

    async def sync_participants(self, seats: Sequence[tuple[str, str, datetime]]) -> int:
        """Make the participant records mirror the live seats (room, user, joined); returns how
        many records changed. Repairs what an outage between the two left behind."""
        wanted = {user_id: (room_id, joined) for room_id, user_id, joined in seats}
        changed = 0
        async with self._session() as session, session.begin():
            rows = (await session.execute(
                select(models.Participant.user_id, models.Participant.room_id))).all()
            have = {user_id: room_id for user_id, room_id in rows}
            stale = [u for u, room in have.items() if wanted.get(u, (None,))[0] != room]
            if stale:
                await session.execute(
                    delete(models.Participant).where(models.Participant.user_id.in_(stale)))
                changed += len(stale)
            known = set((await session.scalars(
                select(models.User.id).where(models.User.id.in_(list(wanted))))).all()) \
                if wanted else set()
            for user_id, (room_id, joined) in wanted.items():
                if user_id in known and (user_id not in have or user_id in stale):
                    session.add(models.Participant(room_id=room_id, user_id=user_id,
                                                   joined_at=joined, is_audio_enabled=False,
                                                   is_video_enabled=False))
                    changed += 1
        return changed

    async def count_participants(self, room_id: str) -> int:
        async with self._session() as session:
            return await session.scalar(
                select(func.count()).select_from(models.Participant)
                .where(models.Participant.room_id == room_id)
            ) or 0

    # messages ------------------------------------------------------------------------------

    @asynccontextmanager
    async def message_batch(self, records: Sequence[MessageRecord], *,
                            across_nodes: bool = False) -> AsyncIterator[None]:
        """Insert chat messages in one transaction (in order: `seq` follows the sequence); the
        body runs once it has committed. With `across_nodes` on PostgreSQL the body runs while
        holding, for each room of the batch, a session lock that every node's chat writer
        takes for that room, so what the body sends goes out in the order of the room's
        history on all nodes. The rooms are locked in one order, so writers never deadlock."""
        if self._direct is not None:
            await self._insert_direct(records)
            yield
            return
        rooms = sorted({r.room_id for r in records}) \
            if across_nodes and self.engine.dialect.name == "postgresql" else []
        async with self.engine.connect() as connection:
            for room in rooms:
                await connection.execute(_CHAT_LOCK, {"key": CHAT_LOCK, "room": room})
            try:
                await connection.execute(_INSERT_MESSAGE, [
                    {"id": r.id, "room_id": r.room_id, "user_id": r.user_id,
                     "sender_name": r.sender_name, "content": r.content,
                     "created_at": r.created_at} for r in records])
                await connection.commit()
                yield
            finally:
                for room in rooms:
                    await connection.execute(_CHAT_UNLOCK, {"key": CHAT_LOCK, "room": room})
                if rooms:
                    await connection.commit()

    async def _insert_direct(self, records: Sequence[MessageRecord]) -> None:
        history = self._history
        if history is None:
            await self._direct.insert(records)
            return
        rooms = {r.room_id for r in records}
        history.writing(rooms)
        committed: bool | None = None
        try:
            await self._direct.insert(records)
            committed = True
        except asyncio.CancelledError:
            raise  # the job may still commit: what is kept is forgotten (committed None)
        except BaseException:
            committed = False  # raised from the job: nothing of it was written
            raise
        finally:
            history.written(records, rooms, committed=committed)

    async def recent_messages(self, room_id: str, limit: int) -> list[MessageRecord]:
        """The newest `limit` messages of a room, oldest first."""
        if self._direct is not None:
            history = self._history
            if history is not None and (kept := history.get(room_id, limit)) is not None:
                return kept
            token = history.reading(room_id) if history is not None else None
            rows = await self._direct.fetch(_DIRECT_RECENT_MESSAGES,
                                            {"room_id": room_id, "limit": limit})
            records = [_direct_message(row) for row in reversed(rows)]
            if history is not None:
                history.read(room_id, token, records, limit)
            return records
        async with self.engine.connect() as connection:
            rows = (await connection.execute(_RECENT_MESSAGES,
                                             {"room_id": room_id, "limit": limit})).all()
        return [_message(row) for row in reversed(rows)]

    async def count_messages(self, *, user_id: str | None = None) -> int:
        query = select(func.count()).select_from(models.Message)
        if user_id is not None:
            query = query.where(models.Message.user_id == user_id)
        async with self._session() as session:
            return await session.scalar(query) or 0

    # suspicious activity -------------------------------------------------------------------

    async def add_suspicious_events(self, events: Sequence[tuple[str, str, str, datetime]]) -> None:
        """Store (ip_key, kind, detail, when) rows."""
        if not events:
            return
        async with self._session() as session, session.begin():
            session.add_all(models.SuspiciousEvent(ip_key=k, kind=kind, detail=detail,
                                                   created_at=when)
                            for k, kind, detail, when in events)

    async def suspicious_events(self, *, ip_key: str | None = None,
                                limit: int = 1000) -> list[tuple[str, str, str, datetime]]:
        query = select(models.SuspiciousEvent).order_by(models.SuspiciousEvent.id.desc())
        if ip_key is not None:
            query = query.where(models.SuspiciousEvent.ip_key == ip_key)
        async with self._session() as session:
            rows = await session.scalars(query.limit(limit))
            return [(r.ip_key, r.kind, r.detail, _utc(r.created_at)) for r in rows]
