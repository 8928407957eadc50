"""The `publicrooms` command."""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn

from publicrooms.logging import configure_logging
from publicrooms.settings import (
    CLI_VARIABLES,
    Settings,
    describe_validation_error,
    effective_configuration,
    environment_variables,
    unknown_variables,
)

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
    import os

    from pydantic import ValidationError

    for variable, suggestion in unknown_variables(dict(os.environ)):
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        typer.echo(f"publicrooms: warning: unknown setting {variable} is ignored{hint}", err=True)
    try:
        return Settings(**overrides)
    except ValidationError as error:
        typer.echo(f"publicrooms: bad configuration: "
                   f"{describe_validation_error(error, dict(os.environ))}", err=True)
        raise typer.Exit(2) from None


def check_services(settings: Settings) -> None:
    """Stop with one line naming what cannot be reached (the database, Redis) before serving."""
    import asyncio

    from publicrooms.store.database import reachable

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        typer.echo(f"publicrooms: cannot create the data directory {settings.data_dir} "
                   f"(PUBLICROOMS_DATA_DIR): {error.strerror}", err=True)
        raise typer.Exit(3) from None
    problem = asyncio.run(reachable(settings.resolved_database_url, settings.redis_url))
    if problem:
        typer.echo(f"publicrooms: {problem}", err=True)
        raise typer.Exit(3)


def _settings_help() -> str:
    """The epilog of `serve --help`: every environment variable and its default."""
    lines = ["\b", "Settings (environment variables, with their defaults):"]
    lines += [f"  {name} = {default}" for name, default, _ in environment_variables()]
    lines += [f"  {name} = {default}" for name, default in CLI_VARIABLES.items()]
    return "\n".join(lines)


@cli.command(epilog=_settings_help())
def serve(
    host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (default 8000)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Where the SQLite file and secret live."),
) -> None:
    """Start the server on embedded defaults (SQLite, in-process state, in-process SFU)."""
    import signal

    overrides = {k: v for k, v in {"host": host, "port": port, "data_dir": data_dir}.items()
                 if v is not None}
    settings = load_settings(overrides)
    configure_logging(settings.log_level, settings.log_json)
    check_services(settings)
    from publicrooms.app import create_app

    server = create_app(settings)
    # Uvicorn re-raises the stop signal once it has shut down, through the handler that was in
    # place before it: with these, a clean SIGTERM/Ctrl-C ends the process with status 0.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: None)
    uv = GracefulServer(uvicorn_config(server.asgi, settings), server.drain)
    uv.run()
    if not uv.started:
        raise typer.Exit(3)


@cli.command()
def config(
    data_dir: Path = typer.Option(None, "--data-dir", help="Data directory to report."),
) -> None:
    """Print the effective configuration (environment and defaults), secrets masked."""
    settings = load_settings({"data_dir": data_dir} if data_dir else {})
    for name, value in effective_configuration(settings):
        typer.echo(f"{name}={value}")


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
