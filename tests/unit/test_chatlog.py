"""ChatLog's pacing: a message after a quiet spell is written at once; the messages that arrive
within the window after a batch started share the next transaction, and each sender returns
only once its message is committed and delivered."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import pytest

from publicrooms.clock import FakeClock
from publicrooms.services.chatlog import ChatLog
from publicrooms.store.sql import MessageRecord, SqlStore
from tests.support.clients import wait_for


class RecordingStore(SqlStore):
    """The real store, noting the contents of each transaction it is asked to write."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.batches: list[list[str]] = []

    @asynccontextmanager
    async def message_batch(self, records, *, across_nodes=False):  # noqa: ANN001, ANN201
        self.batches.append([r.content for r in records])
        async with super().message_batch(records, across_nodes=across_nodes):
            yield


@pytest.fixture
async def store(seeded_store):
    return await seeded_store(RecordingStore)


async def test_a_quiet_log_writes_at_once_and_a_stream_waits_the_window_for_company(store):
    sql, user = store
    clock = FakeClock()
    announced: list[list[str]] = []

    async def announce(texts: list[str]) -> None:
        announced.append(texts)

    log = ChatLog(sql, window_s=5.0, pacing_clock=clock, announce=announce)

    async def send(text: str) -> None:
        record = MessageRecord(str(uuid.uuid4()), "study", user.id, "Ada", text,
                               datetime.now(timezone.utc))
        await log.append(record, text)

    # Nothing written for a while: the first message does not wait for the (fake) clock.
    await asyncio.wait_for(send("one"), 10)
    assert sql.batches == [["one"]] and announced == [["one"]]

    # Within the window after that batch started: the next one waits for the window's end,
    # and what arrives meanwhile shares its transaction.
    two = asyncio.create_task(send("two"))
    await wait_for(lambda: clock.sleepers() == 1, "the writer waits for the window")
    three = asyncio.create_task(send("three"))
    await wait_for(lambda: log.pending() == 2, "the second message is waiting too")
    assert not two.done() and not three.done(), "a sender returns only after its commit"
    clock.advance(5.0)
    await asyncio.wait_for(asyncio.gather(two, three), 10)
    assert sql.batches == [["one"], ["two", "three"]]
    assert announced == [["one"], ["two", "three"]], "one announcement per batch, in order"

    # A quiet window later: at once again.
    clock.advance(5.0)
    await asyncio.wait_for(send("four"), 10)
    assert sql.batches[-1] == ["four"]
    assert [m.content for m in await sql.recent_messages("study", 10)] == \
        ["one", "two", "three", "four"]


async def test_a_window_of_zero_never_waits(store):
    sql, user = store
    clock = FakeClock()
    log = ChatLog(sql, window_s=0.0, pacing_clock=clock)
    for n in range(3):
        record = MessageRecord(str(uuid.uuid4()), "study", user.id, "Ada", f"m{n}",
                               datetime.now(timezone.utc))
        await asyncio.wait_for(log.append(record, None), 10)
    assert sql.batches == [["m0"], ["m1"], ["m2"]]
    assert clock.sleepers() == 0
