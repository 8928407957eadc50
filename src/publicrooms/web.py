"""Browser-facing HTTP: the built page, security headers on every response, a request-size cap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Awaitable, Callable

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_ROOT = Path(__file__).parent / "web"

PLACEHOLDER = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>publicrooms</title></head><body><h1>publicrooms</h1>
<p>The web page has not been built. The API is at <a href="/docs">/docs</a>.</p></body></html>"""


def content_security_policy(allowed_origins: list[str]) -> str:
    connect = " ".join(["'self'", "ws:", "wss:", *allowed_origins])
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'",
        "img-src 'self' data: blob:", "media-src 'self' blob:", f"connect-src {connect}",
        "font-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class WebSocketsFirst:
    """The ASGI entry point. A WebSocket to the Socket.IO path goes straight to Engine.IO's
    request handler; everything else to `app` (the HTTP middleware and routes, which never
    touch a WebSocket). A plain callable that returns a coroutine: of the layers above Engine.IO
    only one frame stays suspended for the life of each connection, instead of four (~1.2 kB a
    WebSocket). uvicorn must be told the interface is ASGI 3 (cli.uvicorn_config)."""

    def __init__(self, app: ASGIApp, *, websocket: Callable[..., Awaitable[Any]],
                 path: str) -> None:
        self.app = app
        self.handler = websocket
        self.path = "/" + path.strip("/") + "/"

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "websocket" and (scope["path"].rstrip("/") + "/").startswith(
                self.path):
            return self.websocket(scope, receive, send)
        return self.app(scope, receive, send)

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)  # an ASGI app returns None, Engine.IO ""


class SecurityHeaders:
    """Adds the hardening headers to every HTTP response, the API's and the page's alike."""

    def __init__(self, app: ASGIApp, *, allowed_origins: list[str]) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", content_security_policy(allowed_origins).encode()),
            (b"permissions-policy", b"camera=(self), microphone=(self), geolocation=()"),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimit:
    """Refuses HTTP bodies over the cap with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _too_large(send, self.max_bytes)
                return
        # Bodies are small (capped), so reading them whole first is cheap and catches chunked
        # uploads that carry no Content-Length.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await _too_large(send, self.max_bytes)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, max_bytes: int) -> None:
    body = json.dumps({"error": {"code": "INVALID_REQUEST",
                                 "message": f"The request body exceeds {max_bytes} bytes."}})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body.encode()})


# Vite names every built asset after its content hash, so a name never changes meaning: cache
# it for a year. The page itself names the current assets, so it is revalidated every time.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
GZIP_MIN_BYTES = 512


class PageFiles(StaticFiles):
    """The built page, with caching fitted to what each file is."""

    def file_response(self, full_path, stat_result, scope, status_code=200) -> Response:  # noqa: ANN001
        response = super().file_response(full_path, stat_result, scope, status_code)
        hashed = Path(full_path).parent.name == "assets"
        response.headers["cache-control"] = IMMUTABLE if hashed else REVALIDATE
        return response


def mount_page(app) -> None:  # noqa: ANN001
    """Serve the built page at `/` (gzip-compressed), or a placeholder pointing at the API docs."""
    if (WEB_ROOT / "index.html").exists():
        app.mount("/", GZipMiddleware(PageFiles(directory=WEB_ROOT, html=True),
                                      minimum_size=GZIP_MIN_BYTES), name="web")
    else:
        @app.get("/", include_in_schema=False)
        async def placeholder() -> HTMLResponse:
            return HTMLResponse(PLACEHOLDER)
