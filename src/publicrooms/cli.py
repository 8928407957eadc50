"""The `publicrooms` command."""

from __future__ import annotations

from pathlib import Path

import structlog
import typer
import uvicorn

from publicrooms import http_adapter
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
    http_adapter.self_test()
    options = dict(
        # Requests must finish their headers in time (slowloris); needs httptools.
        http=http_adapter.header_deadline_protocol(settings.header_timeout_s),
        # uvicorn's websockets-sansio WebSocket, holding less per connection.
        ws=http_adapter.websocket_protocol() or "auto",
        host=settings.host,
        port=settings.port,
        # Forwarded headers are resolved by our own trusted-proxy rule, never by uvicorn's.
        proxy_headers=False,
        server_header=False,
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=settings.ws_compression,
        # No WebSocket-level keepalive: the Engine.IO heartbeat pings every client and closes
        # one that stops answering; a second ping timer per connection would only cost.
        ws_ping_interval=None,
        ws_ping_timeout=None,
        log_config=None,
        access_log=settings.log_access,  # through structlog, like every other line
        lifespan="on",
        interface="asgi3",  # the entry point returns its handler's coroutine (web.WebSocketsFirst)
        timeout_graceful_shutdown=int(settings.cleanup.shutdown_grace_s) or None,
    )
    options.update(overrides)
    return uvicorn.Config(app, **options)


def unknown_setting_warnings() -> list[str]:
    """One warning per unknown PUBLICROOMS_* variable, with the closest valid name."""
    import os

    return [f"unknown setting {variable} is ignored" + (f"; did you mean {suggestion}?" if suggestion else "")
            for variable, suggestion in unknown_variables(dict(os.environ))]


def load_settings(overrides: dict, warn: bool = True) -> Settings:
    """Settings from the environment; bad configuration stops here with one clear line.
    `warn=False`: the caller reports unknown variables itself (in the log's format)."""
    import os

    from pydantic import ValidationError

    for warning in unknown_setting_warnings() if warn else []:
        typer.echo(f"publicrooms: warning: {warning}", err=True)
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
    settings = load_settings(overrides, warn=False)
    configure_logging(settings.log_level, settings.log_json)
    for warning in unknown_setting_warnings():
        structlog.get_logger("publicrooms").warning(warning)
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


admin = typer.Typer(help="Operator actions on a running server, through its /api/admin API "
                         "(PUBLICROOMS_ADMIN_TOKEN and PUBLICROOMS_ADMIN_URL).",
                    no_args_is_help=True)
cli.add_typer(admin, name="admin")

_URL = typer.Option(None, "--url", envvar="PUBLICROOMS_ADMIN_URL",
                    help="The server (default http://127.0.0.1:8000).")
_TOKEN = typer.Option(None, "--token", envvar="PUBLICROOMS_ADMIN_TOKEN",
                      help="The operator token the server was started with.", show_default=False)


def _call(url: str | None, token: str | None, method: str, path: str,
          body: dict | None = None, query: dict | None = None) -> dict:
    """One operator API call; any refusal is one line on stderr and a non-zero exit."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    if not token:
        typer.echo("publicrooms: set PUBLICROOMS_ADMIN_TOKEN (or --token)", err=True)
        raise typer.Exit(2)
    base = (url or "http://127.0.0.1:8000").rstrip("/")
    query = {k: v for k, v in (query or {}).items() if v is not None}
    target = f"{base}/api/admin{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(target, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            problem = json.loads(error.read())["error"]
            text = f"{problem['code']}: {problem['message']}"
        except Exception:  # noqa: BLE001
            text = f"HTTP {error.code}"
        typer.echo(f"publicrooms: {text}", err=True)
        raise typer.Exit(1) from None
    except (urllib.error.URLError, OSError) as error:
        typer.echo(f"publicrooms: cannot reach {base}: {getattr(error, 'reason', error)}", err=True)
        raise typer.Exit(3) from None


def _person(user_id: str | None, report_id: str | None, ip_key: str | None) -> dict:
    if not (user_id or report_id or ip_key):
        typer.echo("publicrooms: name the person: --user, --report or --ip-key", err=True)
        raise typer.Exit(2)
    return {"userId": user_id, "reportId": report_id, "ipKey": ip_key}


def _as_json(value: object) -> None:
    import json

    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


@admin.command("rooms")
def admin_rooms(url: str = _URL, token: str = _TOKEN, as_json: bool = typer.Option(False, "--json")) -> None:
    """Rooms with their participants, and the queue."""
    answer = _call(url, token, "GET", "/rooms")
    if as_json:
        return _as_json(answer)
    for room in answer["rooms"]:
        typer.echo(f"{room['id']:<20} {room['currentOccupancy']}/{room['capacity']}  {room['name']}")
        for person in room["participants"]:
            typer.echo(f"    {person['userId']}  {person['displayName']}")
    typer.echo(f"queue: {len(answer['queue'])}")
    for entry in answer["queue"]:
        typer.echo(f"    {entry['position']:>3}. {entry['userId']}  {entry['displayName']} -> {entry['roomId']}")


@admin.command("find")
def admin_find(name: str = typer.Option(None, help="Part of the display name."),
               user: str = typer.Option(None, "--user", help="A user id."),
               report: str = typer.Option(None, "--report", help="A report id (its target)."),
               url: str = _URL, token: str = _TOKEN) -> None:
    """Find a person by display name, user id or report (never by raw IP)."""
    answer = _call(url, token, "GET", "/people", query={"name": name, "userId": user, "reportId": report})
    for p in answer["people"]:
        typer.echo(f"{p['userId']}  {p['displayName']!r}  room={p['roomId'] or '-'}  "
                   f"reports={p['reports']}  banned={p['banned']}  key={p['ipKey'][:16]}…")


@admin.command("kick")
def admin_kick(user: str = typer.Argument(..., help="The user id."),
               reason: str = typer.Option("", help="Told to the person."),
               url: str = _URL, token: str = _TOKEN) -> None:
    """Remove a participant from their room (their seat is freed)."""
    answer = _call(url, token, "POST", "/kick", {"userId": user, "reason": reason})
    typer.echo(f"kicked: {answer['sockets']} socket(s) closed")


@admin.command("ban")
def admin_ban(reason: str = typer.Option(..., help="Why (for operators)."),
              public_reason: str = typer.Option(None, "--public-reason", help="What the person is told."),
              duration: float = typer.Option(None, "--duration-s", help="Seconds; omit for good."),
              user: str = typer.Option(None, "--user"), report: str = typer.Option(None, "--report"),
              ip_key: str = typer.Option(None, "--ip-key"),
              url: str = _URL, token: str = _TOKEN) -> None:
    """Ban a person's IP key for a duration or for good."""
    body = {**_person(user, report, ip_key), "reason": reason, "durationS": duration}
    if public_reason:
        body["publicReason"] = public_reason
    ban = _call(url, token, "POST", "/bans", body)["ban"]
    typer.echo(f"banned {ban['ipKey'][:16]}… until {ban['expiresAt'] or 'forever'} (ban {ban['id']})")


@admin.command("unban")
def admin_unban(user: str = typer.Option(None, "--user"), report: str = typer.Option(None, "--report"),
                ip_key: str = typer.Option(None, "--ip-key"), url: str = _URL, token: str = _TOKEN) -> None:
    """Lift a person's bans."""
    answer = _call(url, token, "POST", "/unban", _person(user, report, ip_key))
    typer.echo(f"lifted {answer['lifted']} ban(s)")


@admin.command("bans")
def admin_bans(all_bans: bool = typer.Option(False, "--all", help="Also ended and lifted ones."),
               url: str = _URL, token: str = _TOKEN) -> None:
    """List bans, newest first."""
    for ban in _call(url, token, "GET", "/bans", query={"active": str(not all_bans).lower()})["bans"]:
        state = "active" if ban["active"] else "ended"
        typer.echo(f"{ban['id']:>5}  {state:<6} {ban['ipKey'][:16]}…  until {ban['expiresAt'] or 'forever'}"
                   f"  {ban['reason']!r}")


@admin.command("reports")
def admin_reports(all_reports: bool = typer.Option(False, "--all", help="Also resolved ones."),
                  url: str = _URL, token: str = _TOKEN) -> None:
    """List reports, newest first (open ones by default)."""
    for r in _call(url, token, "GET", "/reports", query={"all": str(all_reports).lower()})["reports"]:
        typer.echo(f"{r['id']}  {r['createdAt']}  {r['reason']:<14} {r['roomId']:<16} "
                   f"target={r['targetUserId']} {r['targetName']!r}  {r['text']!r}"
                   + (f"  resolved: {r['resolution']}" if r["resolvedAt"] else ""))


@admin.command("resolve")
def admin_resolve(report: str = typer.Argument(..., help="The report id."),
                  resolution: str = typer.Option("resolved", help="What was done."),
                  url: str = _URL, token: str = _TOKEN) -> None:
    """Mark a report as dealt with."""
    _call(url, token, "POST", f"/reports/{report}/resolve", {"resolution": resolution})
    typer.echo(f"resolved {report}")


@admin.command("suspicious")
def admin_suspicious(limit: int = typer.Option(50), url: str = _URL, token: str = _TOKEN) -> None:
    """Recent suspicious activity, newest first."""
    for e in _call(url, token, "GET", "/suspicious", query={"limit": limit})["events"]:
        typer.echo(f"{e['at']}  {e['kind']:<24} {e['ipKey'][:16]}…  {e['detail']}")


@cli.command()
def version() -> None:
    """Print the version."""
    from importlib.metadata import version as package_version

    typer.echo(package_version("publicrooms"))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
