"""The `publicrooms` command."""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn

from publicrooms.logging import configure_logging
from publicrooms.settings import Settings

cli = typer.Typer(help="publicrooms: anonymous public study rooms.", no_args_is_help=True)


class GracefulServer(uvicorn.Server):
    """Uvicorn that drains publicrooms (tell clients, stop jobs, close sockets) before it waits
    for connections to end: otherwise open WebSockets would hold shutdown for the whole grace."""

    def __init__(self, config: uvicorn.Config, drain) -> None:  # noqa: ANN001
        super().__init__(config)
        self._drain = drain

    async def shutdown(self, sockets=None) -> None:  # noqa: ANN001
        try:
            await self._drain()
        finally:
            await super().shutdown(sockets)


def uvicorn_config(app, settings: Settings, **overrides) -> uvicorn.Config:  # noqa: ANN001
    """The uvicorn configuration the server needs, whoever starts it (CLI or tests)."""
    options = dict(
        host=settings.host,
        port=settings.port,
        # Forwarded headers are resolved by our own trusted-proxy rule, never by uvicorn's.
        proxy_headers=False,
        server_header=False,
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=settings.ws_compression,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.cleanup.shutdown_grace_s) or None,
    )
    options.update(overrides)
    return uvicorn.Config(app, **options)


def load_settings(overrides: dict) -> Settings:
    """Settings from the environment; bad configuration stops here with one clear line."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors())
        typer.echo(f"publicrooms: bad configuration: {problems}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def serve(
    host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (default 8000)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Where the SQLite file and secret live."),
) -> None:
    """Start the server on embedded defaults (SQLite, in-process state, in-process SFU)."""
    overrides = {k: v for k, v in {"host": host, "port": port, "data_dir": data_dir}.items()
                 if v is not None}
    settings = load_settings(overrides)
    configure_logging(settings.log_level, settings.log_json)
    from publicrooms.app import create_app

    server = create_app(settings)
    GracefulServer(uvicorn_config(server.asgi, settings), server.drain).run()


@cli.command()
def suspicious(
    limit: int = typer.Option(50, help="How many events, newest first."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Where the SQLite file lives."),
) -> None:
    """List recent suspicious-activity events (IP key, kind, time)."""
    import asyncio

    from publicrooms.store.database import create_engine, migrate
    from publicrooms.store.sql import SqlStore

    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))

    async def show() -> None:
        store = SqlStore(create_engine(settings.resolved_database_url))
        try:
            await migrate(store.engine)
            for ip_key, kind, detail, when in await store.suspicious_events(limit=limit):
                typer.echo(f"{when.isoformat()}  {kind:<24} {ip_key[:16]}…  {detail}")
        finally:
            await store.close()

    asyncio.run(show())


@cli.command()
def version() -> None:
    """Print the version."""
    from importlib.metadata import version as package_version

    typer.echo(package_version("publicrooms"))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
