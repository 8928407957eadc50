"""`/docs`: Swagger UI served from the package (no CDN), under the page's own CSP.

The Swagger UI files come from the `fastapi-swagger` distribution (pinned), which ships the
current swagger-ui-dist build as package data; nothing else of it is used. The page's script
is a file of ours (no inline script: `script-src 'self'`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css")

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API documentation</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""

_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""


def assets_dir() -> Path:
    """Where the packaged Swagger UI files are; start-up fails clearly if they are missing."""
    root = Path(str(resources.files("fastapi_swagger") / "resources"))
    missing = [name for name in ASSETS if not (root / name).is_file()]
    if missing:
        raise RuntimeError(f"Swagger UI assets missing from fastapi-swagger: {', '.join(missing)}")
    return root


def document(app: FastAPI) -> None:
    """The OpenAPI document as the API behaves: no FastAPI 422 answers (a bad body or parameter
    is 400 INVALID_REQUEST, documented with every route's errors), and the operator API's
    bearer token as its security scheme."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = generate()
            for path, operations in spec.get("paths", {}).items():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
                    if path.startswith("/api/admin/"):
                        operation["security"] = [{"operatorToken": []}]
            components = spec.setdefault("components", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.get("schemas", {}).pop(name, None)
            components["securitySchemes"] = {"operatorToken": {
                "type": "http", "scheme": "bearer",
                "description": "PUBLICROOMS_ADMIN_TOKEN (the operator API is off without it)"}}
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi


def mount_docs(app: FastAPI) -> None:
    """Serve `/docs` (the page, its script, the Swagger UI assets) from the package."""
    document(app)
    root = assets_dir()
    page = _PAGE.format(title=app.title)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page, headers={"cache-control": "no-cache"})

    @app.get("/docs/init.js", include_in_schema=False)
    async def docs_init() -> Response:
        return Response(_INIT, media_type="text/javascript", headers={"cache-control": "no-cache"})

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if name not in ASSETS:
            return Response(status_code=404)
        return FileResponse(root / name, headers={"cache-control": "public, max-age=86400"})
