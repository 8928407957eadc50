"""The SQLite file's own thread (chat batches and the join's statements): rows as the engine
writes and reads them, one transaction for the jobs waiting together (a savepoint each), errors
as the engine raises them."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy.exc
from sqlalchemy import text
from sqlalchemy.dialects import sqlite as sqlite_dialect

from publicrooms.store.sql import MessageRecord, SqlStore
from publicrooms.errors import is_outage
from publicrooms.store.sqlite_direct import SqliteDirect, read_time, stored_time


@pytest.fixture
async def store(seeded_store):
    return await seeded_store()


def _message(room: str, user_id: str, n: int, when: datetime) -> MessageRecord:
    return MessageRecord(str(uuid.uuid4()), room, user_id, "Ada", f"message {n}", when)


async def test_messages_written_by_the_thread_read_back_through_the_engine_in_order(store):
    sql, user = store
    assert sql._direct is not None  # a SQLite file takes the thread's path
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
    with pytest.raises(sqlalchemy.exc.IntegrityError):  # as the engine raises it
        async with sql.message_batch([good, orphan]):
            pytest.fail("the body runs only after a commit")
    assert await sql.recent_messages("study", 50) == []
    async with sql.message_batch([good]):
        pass
    assert await sql.recent_messages("study", 50) == [good]


async def test_close_finishes_what_was_handed_in(tmp_path, store):
    sql, user = store
    path = str(tmp_path / "chat.db")
    writer = SqliteDirect(path)
    now = datetime.now(timezone.utc)
    batch = [_message("study", user.id, n, now) for n in range(50)]
    await writer.insert(batch)
    writer.close()
    writer.close()  # twice is harmless
    with sqlite3.connect(path) as connection:
        ids = [row[0] for row in connection.execute("SELECT id FROM messages ORDER BY seq")]
    assert ids == [m.id for m in batch]


def test_a_stored_timestamp_is_read_back_as_the_engine_reads_it():
    result = sqlite_dialect.DATETIME().result_processor(sqlite_dialect.dialect(), None)
    for text in ("2026-01-02 03:04:05.000006", "2026-12-31 23:59:59.999999",
                 "2027-06-01 00:00:00"):  # the last: as SQLite's CURRENT_TIMESTAMP writes it
        assert read_time(text) == result(text).replace(tzinfo=timezone.utc)


async def test_the_join_statements_on_the_thread_agree_with_the_engine(store):
    sql, user = store
    engine_sql = SqlStore(sql.engine)
    engine_sql._direct = None  # the same store through the engine only
    later = user.last_active_at + timedelta(seconds=5, microseconds=7)
    # The thread's upsert renames the engine's user, keeping its id and first time.
    renamed = await sql.upsert_user(ip_key="k1", display_name="Grace", now=later)
    assert (renamed.id, renamed.display_name, renamed.created_at, renamed.last_active_at) == \
        (user.id, "Grace", user.created_at, later)
    for store_ in (sql, engine_sql):
        assert await store_.get_user(user.id) == renamed
        assert await store_.get_user_by_ip_key("k1") == renamed
        assert await store_.get_user("no-such-user") is None
        assert await store_.get_user_by_ip_key("k9") is None
    # A participant record added twice is one record; removed, it is gone for both.
    await sql.add_participant(room_id="study", user_id=user.id, joined_at=later)
    await sql.add_participant(room_id="study", user_id=user.id, joined_at=later)
    assert await engine_sql.count_participants("study") == 1
    await sql.remove_participant(user_id=user.id)
    assert await engine_sql.count_participants("study") == 0
    # The newest messages, oldest first, the same through either path.
    start = datetime(2026, 12, 3, 7, 30, 1, tzinfo=timezone.utc)
    async with engine_sql.message_batch([_message("study", user.id, n, start) for n in range(4)]):
        pass
    async with sql.message_batch([_message("study", user.id, n, start) for n in range(4, 9)]):
        pass
    newest = await engine_sql.recent_messages("study", 6)
    assert [m.content for m in newest] == [f"message {n}" for n in range(3, 9)]
    assert await sql.recent_messages("study", 6) == newest


async def test_a_failing_statement_on_the_thread_is_the_engines_error_and_the_next_one_runs(store):
    sql, user = store
    now = datetime.now(timezone.utc)
    with pytest.raises(sqlalchemy.exc.IntegrityError) as raised:  # foreign keys are on
        await sql.add_participant(room_id="no-such-room", user_id=user.id, joined_at=now)
    assert not is_outage(raised.value)
    await sql.add_participant(room_id="study", user_id=user.id, joined_at=now)
    assert await sql.count_participants("study") == 1


async def test_a_locked_database_on_the_thread_is_an_outage_and_nothing_is_written(tmp_path, store):
    sql, user = store
    path = str(tmp_path / "chat.db")
    sql._direct.close()
    direct = sql._direct = SqliteDirect(path, busy_timeout_s=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy timeout
    try:
        with pytest.raises(sqlalchemy.exc.OperationalError) as raised:
            await sql.upsert_user(ip_key="k2", display_name="Lin", now=datetime.now(timezone.utc))
        assert is_outage(raised.value)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await sql.get_user_by_ip_key("k2") is None
    made = await sql.upsert_user(ip_key="k2", display_name="Lin", now=datetime.now(timezone.utc))
    assert await sql.get_user_by_ip_key("k2") == made


async def test_jobs_handed_in_together_share_a_commit_and_a_failing_one_is_undone_alone(store):
    sql, user = store
    direct = sql._direct
    now = datetime.now(timezone.utc)
    commits = direct.commits
    users = [sql.upsert_user(ip_key=f"g{n}", display_name=f"G{n}", now=now) for n in range(20)]
    orphan = sql.add_participant(room_id="no-such-room", user_id=user.id, joined_at=now)
    seated = sql.add_participant(room_id="study", user_id=user.id, joined_at=now)
    # All handed in at once (the thread finds them waiting), the failing one in the middle.
    results = await asyncio.gather(*users[:10], orphan, *users[10:], seated,
                                   return_exceptions=True)
    failure = results[10]
    made = results[:10] + results[11:21]
    assert isinstance(failure, sqlalchemy.exc.IntegrityError) and not is_outage(failure)
    assert not any(isinstance(r, BaseException) for r in made + [results[21]]), results
    assert direct.commits - commits < len(results), "every job committed on its own"
    for n, made_user in enumerate(made):
        assert made_user.display_name == f"G{n}"
        assert await sql.get_user_by_ip_key(f"g{n}") == made_user
    assert await sql.count_participants("study") == 1
    assert await sql.count_participants("no-such-room") == 0


async def test_jobs_together_on_a_locked_database_are_all_an_outage_and_none_is_written(
        tmp_path, store):
    sql, user = store
    path = str(tmp_path / "chat.db")
    sql._direct.close()
    sql._direct = SqliteDirect(path, busy_timeout_s=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        now = datetime.now(timezone.utc)
        results = await asyncio.gather(
            *(sql.upsert_user(ip_key=f"l{n}", display_name="Lin", now=now) for n in range(5)),
            return_exceptions=True)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert all(isinstance(r, sqlalchemy.exc.OperationalError) and is_outage(r)
               for r in results), results
    for n in range(5):
        assert await sql.get_user_by_ip_key(f"l{n}") is None


async def test_a_chat_batch_is_committed_on_the_loop_when_the_write_lock_is_free(store):
    sql, user = store
    direct = sql._direct
    now = datetime.now(timezone.utc)
    before, inline = direct.commits, direct.inline_commits
    sent = [_message("study", user.id, n, now + timedelta(microseconds=n)) for n in range(3)]
    await direct.insert(sent)  # nothing else writes: the loop's own connection commits it
    assert direct.inline_commits == inline + 1 and direct.commits == before + 1
    # Committed (another connection sees it) and read back as the engine reads it.
    assert await sql.recent_messages("study", 50) == sent


async def test_a_chat_batch_waits_on_the_thread_while_another_writer_holds_the_lock(
        tmp_path, store):
    sql, user = store
    blocker = sqlite3.connect(str(tmp_path / "chat.db"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    message = _message("study", user.id, 1, datetime.now(timezone.utc))
    inline = sql._direct.inline_commits
    insert = asyncio.create_task(sql._direct.insert([message]))
    await asyncio.sleep(0)  # the loop's try found the lock taken and handed the batch over
    assert not insert.done() and sql._direct.inline_commits == inline
    blocker.execute("ROLLBACK")
    blocker.close()
    await insert  # the thread's busy wait ends once the lock is free
    assert await sql.recent_messages("study", 50) == [message]
    # A bad batch on the loop's path is the engine's error, and nothing of it is written.
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        await sql._direct.insert([_message("study", user.id, 2, message.created_at),
                                  _message("no-such-room", user.id, 3, message.created_at)])
    assert await sql.recent_messages("study", 50) == [message]


async def test_the_loops_commits_are_checkpointed_by_the_thread(tmp_path, store, monkeypatch):
    """The loop's connection never checkpoints; every CHECKPOINT_EVERY of its commits the
    thread copies the log into the database file."""
    import publicrooms.store.sqlite_direct as sqlite_direct

    sql, user = store
    monkeypatch.setattr(sqlite_direct, "CHECKPOINT_EVERY", 4)
    path = tmp_path / "chat.db"
    direct = sql._direct
    await direct.fetch(sqlite_direct.Prepared(text("SELECT 1")), {})  # the thread is up
    await asyncio.to_thread(_checkpoint_now, path)
    size = path.stat().st_size
    now = datetime.now(timezone.utc)
    for n in range(3):
        await direct.insert([MessageRecord(str(uuid.uuid4()), "study", user.id, "Ada",
                                           "x" * 8000, now)])
    await direct.fetch(sqlite_direct.Prepared(text("SELECT 1")), {})  # jobs run in order
    assert path.stat().st_size == size  # three commits: still only in the log
    await direct.insert([_message("study", user.id, 4, now)])  # the fourth: a checkpoint
    await direct.fetch(sqlite_direct.Prepared(text("SELECT 1")), {})  # it has run
    assert path.stat().st_size >= size + 3 * 8000


def _checkpoint_now(path) -> None:  # noqa: ANN001
    connection = sqlite3.connect(str(path))
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    connection.close()
