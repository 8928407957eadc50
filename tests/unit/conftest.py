"""Shared fixtures of the unit tests."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from publicrooms.store.database import create_engine, migrate
from publicrooms.store.sql import RoomRecord, SqlStore


@pytest.fixture
async def seeded_store(tmp_path):
    """Makes a store (of the class given) on a migrated SQLite file `chat.db` with a room
    "study" and a user "Ada"; returns (store, user) and closes every store made."""
    made: list[SqlStore] = []

    async def make(store_class: type[SqlStore] = SqlStore, **options):  # noqa: ANN202
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
        await migrate(engine)
        sql = store_class(engine, **options)
        made.append(sql)
        now = datetime.now(timezone.utc)
        await sql.sync_rooms([RoomRecord("study", "Study", 10, 0)], now)
        return sql, await sql.upsert_user(ip_key="k1", display_name="Ada", now=now)

    yield make
    for sql in made:
        await sql.close()
