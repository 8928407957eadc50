"""Every error code, walked through both transports' single mapping."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from publicrooms.api.errors import install_error_handlers
from publicrooms.errors import ERROR_TYPES, DomainError, RateLimitExceeded
from publicrooms.realtime.handlers import event_handler

SPEC_CODES = {
    "INVALID_DISPLAY_NAME", "INVALID_MESSAGE", "MALICIOUS_INPUT", "RATE_LIMIT_EXCEEDED",
    "CHAT_RATE_LIMIT_EXCEEDED", "JOIN_LIMIT_EXCEEDED", "IP_BLOCKED", "ROOM_FULL",
    "ALREADY_IN_ROOM", "SYSTEM_AT_CAPACITY", "ROOM_NOT_FOUND", "INVALID_USER", "INVALID_REQUEST",
    "TOO_MANY_CONNECTIONS", "RECONNECTION_THROTTLED", "CONNECTION_TIMEOUT",
}
SPEC_STATUS = {"RATE_LIMIT_EXCEEDED": 429, "JOIN_LIMIT_EXCEEDED": 429, "IP_BLOCKED": 403,
               "ROOM_FULL": 409, "ALREADY_IN_ROOM": 409, "SYSTEM_AT_CAPACITY": 503,
               "ROOM_NOT_FOUND": 404}


class FakeSio:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict, str, str]] = []

    async def emit(self, event: str, data: dict, to: str, namespace: str,
                   ignore_queue: bool = False) -> None:
        self.emitted.append((event, data, to, namespace))


def test_every_spec_code_has_an_error_type() -> None:
    assert SPEC_CODES <= {cls.code for cls in ERROR_TYPES}


@pytest.mark.parametrize("error_type", ERROR_TYPES, ids=lambda cls: cls.code)
async def test_error_reaches_http_and_socketio_alike(error_type: type[DomainError]) -> None:
    error = error_type(retry_after_s=2.5, details={"position": 3})
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    response = TestClient(app).get("/boom")
    assert response.status_code == error.status
    assert SPEC_STATUS.get(error.code, error.status) == error.status
    http_body = response.json()["error"]
    assert http_body == {"code": error.code, "message": error.message, "retryAfter": 3,
                         "details": {"position": 3}}
    assert response.headers["retry-after"] == "3"

    sio = FakeSio()

    @event_handler(sio, "anything")
    async def handler(namespace: str, sid: str) -> dict:
        raise error

    ack = await handler("/public-room/x", "sid-1")
    assert ack == {"error": http_body}
    assert sio.emitted == [("error", http_body, "sid-1", "/public-room/x")]


async def test_unknown_exceptions_become_a_generic_internal_error() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail")

    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "secret" not in response.text

    sio = FakeSio()

    @event_handler(sio, "anything")
    async def handler(namespace: str, sid: str) -> dict:
        raise RuntimeError("secret detail")

    ack = await handler("/", "sid")
    assert ack["error"]["code"] == "INTERNAL_ERROR" and "secret" not in str(ack)


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert RateLimitExceeded(retry_after_s=0.2).retry_after == 1
    assert RateLimitExceeded(retry_after_s=59.01).retry_after == 60
    assert RateLimitExceeded().retry_after is None


@pytest.mark.postgres
async def test_a_database_out_of_connections_is_a_retryable_outage() -> None:
    """PostgreSQL refusing a connection (SQLSTATE 53300, as when its connection slots are
    taken) is answered as TEMPORARILY_UNAVAILABLE, not as an internal error."""
    import asyncpg
    import sqlalchemy
    from sqlalchemy.ext.asyncio import create_async_engine

    from publicrooms.errors import TemporarilyUnavailable, as_domain_error
    from tests.support.postgres import PG_ADMIN_DSN

    role = f"publicrooms_full_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
    host_part = PG_ADMIN_DSN.split("@", 1)[1]
    engine = create_async_engine(f"postgresql+asyncpg://{role}@{host_part}")
    try:
        with pytest.raises(sqlalchemy.exc.DBAPIError) as raised:
            async with engine.connect() as connection:
                await connection.execute(sqlalchemy.text("SELECT 1"))
        assert raised.value.orig.sqlstate == "53300"
        error = as_domain_error(raised.value)
        assert isinstance(error, TemporarilyUnavailable)
        assert error.retry_after is not None
    finally:
        await engine.dispose()
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


def test_a_bad_statement_stays_an_internal_error() -> None:
    import sqlalchemy

    from publicrooms.errors import InternalError, as_domain_error

    class Orig(Exception):
        sqlstate = "42601"   # syntax error

    error = sqlalchemy.exc.DBAPIError("SELEKT 1", None, Orig("syntax"))
    assert isinstance(as_domain_error(error), InternalError)
