"""The SQL engine: SQLite (default) or PostgreSQL, migrated to head at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets foreign keys (for cascades), WAL and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    # Fail within seconds while PostgreSQL is unreachable, rather than hang the request.
    # (A burst may still wait its turn for a pooled connection: the pool timeout stays 30 s.)
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                               connect_args={"timeout": 5, "command_timeout": 10})


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


# Nodes starting together take turns: the first migrates, the others find the schema current.
MIGRATION_LOCK = 0x7075626C6963  # "public"


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration."""
    from sqlalchemy import text

    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                     {"key": MIGRATION_LOCK})
        await connection.run_sync(_upgrade)
