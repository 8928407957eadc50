"""The SQL engine: SQLite (default) or PostgreSQL, migrated to head at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlite_pragmas(dbapi_connection) -> None:  # noqa: ANN001 - any DB-API SQLite connection
    """What every SQLite connection of ours sets: foreign keys (for cascades), WAL, and commits
    that survive a crash of the process (synchronous=NORMAL under WAL)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets `sqlite_pragmas` and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect",
                     lambda dbapi_connection, _record: sqlite_pragmas(dbapi_connection))
        return engine
    # Fail within seconds while PostgreSQL is unreachable, rather than hang the request.
    # (A burst may still wait its turn for a pooled connection: the pool timeout stays 30 s.)
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                               connect_args={"timeout": 5, "command_timeout": 10})


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def _upgrade(connection: Connection) -> tuple[str | None, str | None, list[str]]:
    """Upgrade to head; (revision before, revision after, revisions applied in order)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(config, "head")
    after = MigrationContext.configure(connection).get_current_revision()
    script = ScriptDirectory.from_config(config)
    applied = [rev.revision for rev in script.iterate_revisions(after, before)] if after != before else []
    return before, after, list(reversed(applied))


# Nodes starting together take turns: the first migrates, the others find the schema current.
MIGRATION_LOCK = 0x7075626C6963  # "public"


async def migrate(engine: AsyncEngine) -> list[str]:
    """Bring the schema to the newest migration; the revisions applied (logged)."""
    import structlog
    from sqlalchemy import text

    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                     {"key": MIGRATION_LOCK})
        before, after, applied = await connection.run_sync(_upgrade)
    log = structlog.get_logger("publicrooms.store")
    if applied:
        log.info("migrations applied", applied=applied, previous=before, schema=after)
    else:
        log.info("schema up to date", schema=after)
    return applied


async def reachable(database_url: str, redis_url: str | None, timeout_s: float = 5) -> str | None:
    """None when the database (and Redis, if used) answer; else one line saying which does not."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.drivername.startswith("sqlite"):
        where = f"SQLite file {url.database}"
    else:
        where = f"PostgreSQL database {url.database!r} on {url.host or 'localhost'}:{url.port or 5432}"
    engine = create_engine(database_url)
    try:
        await asyncio.wait_for(_select_one(engine, text), timeout_s)
    except Exception as exc:  # noqa: BLE001 - any failure here is reported, not raised
        return f"cannot reach the {where} (PUBLICROOMS_DATABASE_URL): {_reason(exc)}"
    finally:
        await engine.dispose()
    if redis_url:
        import redis.asyncio as redis_asyncio

        client = redis_asyncio.from_url(redis_url, socket_connect_timeout=timeout_s,
                                        socket_timeout=timeout_s)
        kwargs = client.connection_pool.connection_kwargs
        where = f"Redis at {kwargs.get('host', kwargs.get('path'))}:{kwargs.get('port', '')} db {kwargs.get('db', 0)}"
        try:
            await client.ping()
        except Exception as exc:  # noqa: BLE001
            return f"cannot reach {where} (PUBLICROOMS_REDIS_URL): {_reason(exc)}"
        finally:
            await client.aclose()
    return None


async def _select_one(engine: AsyncEngine, text) -> None:  # noqa: ANN001
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def _reason(exc: BaseException) -> str:
    """The root cause in a few words (no traceback, no driver class names)."""
    import asyncio

    while exc.__cause__ is not None or getattr(exc, "orig", None) is not None:
        exc = getattr(exc, "orig", None) or exc.__cause__
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "no answer (timed out)"
    if isinstance(exc, ConnectionRefusedError) or any(
            sign in str(exc).lower() for sign in ("refused", "error 111", "connect call failed")):
        return "connection refused"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
