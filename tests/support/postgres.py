"""Scratch PostgreSQL databases for tests, made and dropped through the admin connection."""

from __future__ import annotations

import os

PG_ADMIN_DSN = os.environ.get("PUBLICROOMS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(statement: str, *args: object) -> object:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


async def create_database(name: str) -> None:
    await _admin(f'CREATE DATABASE "{name}"')


async def drop_database(name: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def wait_until_unused(name: str, timeout_s: float = 5.0) -> int:
    """Wait until no session is connected to database `name` (a stopped server's connections
    take a moment to end); the number still connected after `timeout_s`, 0 when none."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        count = await _admin("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name)
        if not count or asyncio.get_running_loop().time() >= deadline:
            return int(count or 0)
        await asyncio.sleep(0.05)


def asyncpg_url(name: str) -> str:
    """The SQLAlchemy URL of database `name` on the admin connection's server."""
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"
