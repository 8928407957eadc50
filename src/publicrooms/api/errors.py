"""The one place HTTP turns errors into `{"error": {...}}` bodies."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from publicrooms.errors import DomainError, InvalidRequest, as_domain_error, http_headers, is_outage
from publicrooms.schemas.errors import ErrorResponse

log = structlog.get_logger("publicrooms.api")

_ERROR = {"model": ErrorResponse,
          "description": 'Error: `{"error": {"code", "message", "retryAfter"?, "details"?}}`'}
# What the routers document: every refusal has the one error body (a bad body or parameter is
# 400 INVALID_REQUEST, never FastAPI's 422).
PUBLIC_ERRORS = {status: _ERROR for status in (400, 403, 404, 409, 413, 429, 503)}
OPERATOR_ERRORS = {status: _ERROR for status in (400, 401, 403, 404, 409, 413, 429, 503)}
HEALTH_ERRORS = {503: _ERROR}



def error_response(error: DomainError) -> JSONResponse:
    return JSONResponse({"error": error.payload()}, status_code=error.status,
                        headers=http_headers(error))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(p) for p in err.get("loc", ())),
                     "problem": err.get("msg", "")} for err in exc.errors()]
        return error_response(InvalidRequest(details={"problems": problems}))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        error = InvalidRequest(str(exc.detail))
        return JSONResponse({"error": {**error.payload(), "code": _http_code(exc.status_code)}},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        if is_outage(exc):
            log.warning("backing service unavailable", path=request.url.path, error=repr(exc))
        else:
            log.error("request failed", path=request.url.path, exc_info=exc)
        return error_response(as_domain_error(exc))


def _http_code(status: int) -> str:
    return {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "INVALID_REQUEST"}.get(
        status, "INVALID_REQUEST")
