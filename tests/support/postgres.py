"""Scratch PostgreSQL databases for tests, made and dropped through the admin connection."""

from __future__ import annotations

import os

PG_ADMIN_DSN = os.environ.get("PUBLICROOMS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_database(name: str) -> None:
    await _admin(f'CREATE DATABASE "{name}"')


async def drop_database(name: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def asyncpg_url(name: str) -> str:
    """The SQLAlchemy URL of database `name` on the admin connection's server."""
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"
