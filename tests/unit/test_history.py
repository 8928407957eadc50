"""A room's recent history kept in memory by the database's only writer: what it keeps is what
the database holds, whatever the order in which reads and inserts end."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy.exc

from publicrooms.store.history import RecentHistory
from publicrooms.store.sql import MessageRecord

START = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


def _message(n: int, room: str = "study", user_id: str = "u") -> MessageRecord:
    return MessageRecord(str(uuid.uuid4()), room, user_id, "Ada", f"message {n}",
                         START + timedelta(seconds=n))


def test_a_read_is_kept_and_what_commits_after_it_is_added_the_oldest_falling_off():
    history = RecentHistory()
    token = history.reading("study")
    history.read("study", token, [_message(0), _message(1)], limit=3)
    assert [m.content for m in history.get("study", 3)] == ["message 0", "message 1"]
    later = [_message(2), _message(3), _message(4, room="other")]
    history.writing({"study", "other"})
    history.written(later, {"study", "other"}, committed=True)
    assert [m.content for m in history.get("study", 3)] == ["message 1", "message 2",
                                                            "message 3"]
    assert [m.content for m in history.get("study", 2)] == ["message 2", "message 3"]
    assert history.get("study", 4) is None  # more than is kept: the database answers
    assert history.get("other", 3) is None  # never read: nothing kept


def test_a_read_that_overlaps_an_insert_is_not_kept():
    history = RecentHistory()
    history.writing({"study"})
    assert history.reading("study") is None  # an insert under way: the read may miss it
    history.written([_message(0)], {"study"}, committed=True)
    token = history.reading("study")
    history.writing({"study"})  # an insert begins while the read runs
    history.written([_message(1)], {"study"}, committed=True)
    history.read("study", token, [_message(0)], limit=50)
    assert history.get("study", 50) is None


def test_a_rolled_back_insert_adds_nothing_and_one_of_unknown_outcome_forgets_all():
    history = RecentHistory()
    history.read("study", history.reading("study"), [_message(0)], limit=50)
    history.writing({"study"})
    history.written([_message(1)], {"study"}, committed=False)
    assert [m.content for m in history.get("study", 50)] == ["message 0"]
    token = history.reading("other")
    history.writing({"study"})
    history.written([_message(2)], {"study"}, committed=None)
    assert history.get("study", 50) is None
    history.read("other", token, [], limit=50)  # begun before the forgetting: not kept
    assert history.get("other", 50) is None


@pytest.fixture
async def kept(seeded_store):
    return await seeded_store(sole_writer=True)


async def test_the_sole_writer_reads_a_rooms_history_once_and_it_follows_every_commit(kept):
    sql, user = kept
    sent = [_message(n, user_id=user.id) for n in range(5)]
    async with sql.message_batch(sent[:2]):
        pass
    assert await sql.recent_messages("study", 3) == sent[:2]
    jobs = sql._direct.commits
    async with sql.message_batch(sent[2:]):
        pass
    assert await sql.recent_messages("study", 3) == sent[2:]
    assert sql._direct.commits == jobs + 1  # the insert; the read came from memory
    # What is kept is what the database answers.
    sql._history.forget()
    assert await sql.recent_messages("study", 3) == sent[2:]


async def test_a_failed_or_cancelled_insert_leaves_the_kept_history_true(kept, tmp_path):
    sql, user = kept
    first = _message(0, user_id=user.id)
    async with sql.message_batch([first]):
        pass
    assert await sql.recent_messages("study", 50) == [first]
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        async with sql.message_batch([_message(1, room="no-such-room", user_id=user.id)]):
            pass
    assert await sql.recent_messages("study", 50) == [first]
    # Cancelled while the thread holds it: it may commit, so the next read asks the database.
    blocker = sqlite3.connect(tmp_path / "chat.db", timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # the thread's insert waits for the write lock
    second = _message(2, user_id=user.id)

    async def insert() -> None:
        async with sql.message_batch([second]):
            pass

    task = asyncio.create_task(insert())
    while not sql._history._writing:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    blocker.rollback()
    blocker.close()
    assert await sql.recent_messages("study", 50) == [first, second]


async def test_deleting_users_forgets_the_history_their_messages_were_in(kept):
    sql, user = kept
    now = datetime.now(timezone.utc)
    other = await sql.upsert_user(ip_key="k2", display_name="Bo", now=now)
    mine, theirs = _message(0, user_id=user.id), _message(1, user_id=other.id)
    async with sql.message_batch([mine, theirs]):
        pass
    assert await sql.recent_messages("study", 50) == [mine, theirs]
    assert await sql.delete_users([other.id]) == 1
    assert await sql.recent_messages("study", 50) == [mine]
