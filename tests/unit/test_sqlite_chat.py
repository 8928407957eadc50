"""The SQLite chat writer thread: rows as the engine writes them, one transaction per batch."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite as sqlite_dialect

from publicrooms.store.database import create_engine, migrate
from publicrooms.store.sql import MessageRecord, RoomRecord, SqlStore
from publicrooms.store.sqlite_chat import SqliteChatWriter, stored_time


@pytest.fixture
async def store(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    await migrate(engine)
    sql = SqlStore(engine)
    now = datetime.now(timezone.utc)
    await sql.sync_rooms([RoomRecord("study", "Study", 10, 0)], now)
    user = await sql.upsert_user(ip_key="k1", display_name="Ada", now=now)
    yield sql, user
    await sql.close()


def _message(room: str, user_id: str, n: int, when: datetime) -> MessageRecord:
    return MessageRecord(str(uuid.uuid4()), room, user_id, "Ada", f"message {n}", when)


async def test_messages_written_by_the_thread_read_back_through_the_engine_in_order(store):
    sql, user = store
    assert sql._chat_writer is not None  # a SQLite file takes the thread's path
    start = datetime(2026, 12, 3, 7, 30, 1, 123456, tzinfo=timezone.utc)
    sent = [_message("study", user.id, n, start + timedelta(microseconds=n)) for n in range(7)]
    async with sql.message_batch(sent[:3]):
        pass
    async with sql.message_batch(sent[3:]):
        pass
    assert await sql.recent_messages("study", 50) == sent
    assert await sql.count_messages(user_id=user.id) == 7


def test_a_timestamp_is_stored_as_the_engine_stores_it():
    bind = sqlite_dialect.DATETIME().bind_processor(sqlite_dialect.dialect())
    for value in (datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
                  datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
                  datetime(2027, 6, 1, 0, 0, 0, 0, tzinfo=timezone.utc)):
        assert stored_time(value) == bind(value)
    # Another offset is turned into UTC first: the column holds UTC.
    local = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert stored_time(local) == "2026-01-02 03:04:05.000000"


async def test_a_batch_that_fails_writes_nothing_and_the_next_one_is_written(store, tmp_path):
    sql, user = store
    now = datetime.now(timezone.utc)
    good = _message("study", user.id, 1, now)
    orphan = _message("no-such-room", user.id, 2, now)  # foreign keys are on
    with pytest.raises(sqlite3.IntegrityError):
        async with sql.message_batch([good, orphan]):
            pytest.fail("the body runs only after a commit")
    assert await sql.recent_messages("study", 50) == []
    async with sql.message_batch([good]):
        pass
    assert await sql.recent_messages("study", 50) == [good]


async def test_close_finishes_what_was_handed_in(tmp_path, store):
    sql, user = store
    path = str(tmp_path / "chat.db")
    writer = SqliteChatWriter(path)
    now = datetime.now(timezone.utc)
    batch = [_message("study", user.id, n, now) for n in range(50)]
    await writer.insert(batch)
    writer.close()
    writer.close()  # twice is harmless
    with sqlite3.connect(path) as connection:
        ids = [row[0] for row in connection.execute("SELECT id FROM messages ORDER BY seq")]
    assert ids == [m.id for m in batch]
