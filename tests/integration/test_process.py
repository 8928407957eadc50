"""The `publicrooms serve` command as a process: starts on defaults, drains on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.clients import wait_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z \[(debug|info|warning|error|critical) *\] ")
CLI = [sys.executable, "-m", "publicrooms.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLICROOMS_")}
    env.update(extra)
    return env


def run_cli(*args: str, timeout_s: float = 60, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=_env(**env), capture_output=True, text=True,
                          timeout=timeout_s)


async def _ready(url: str, timeout_s: float = 60) -> None:
    async def up() -> bool:
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(url + "/ready")).status_code == 200
        except httpx.TransportError:
            return False

    await wait_for(up, "server ready", timeout_s=timeout_s)


async def _serve(tmp_path, port: int, **env: str):  # noqa: ANN001, ANN202
    return await asyncio.create_subprocess_exec(
        *CLI, "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"),
        env=_env(**env), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True)


async def test_serve_starts_on_defaults_and_drains_on_sigterm(tmp_path, clients) -> None:
    port = free_port()
    env = {**os.environ, "PUBLICROOMS_MEDIA__ENABLED": "false"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "publicrooms.cli", "serve", "--port", str(port),
        "--data-dir", str(tmp_path / "data"), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        await _ready(url, timeout_s=30)
        assert (tmp_path / "data" / "publicrooms.db").exists()
        assert (tmp_path / "data" / "secret.key").exists()
        person = await clients(url, "/public-room/deep-focus").connect()
        assert (await person.call("join-room", {"userName": "Sam"}))["success"]

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await wait_for(lambda: person.events["server-shutting-down"], "clients are told")
        await wait_for(lambda: not person.connected, "clients are disconnected")
        code = await asyncio.wait_for(process.wait(), 15)
        # uvicorn re-raises the signal once shut down; `serve` makes that a clean exit.
        assert code == 0 and time.monotonic() - started < 10
        output = (await process.stdout.read()).decode()
        for line in ("server started", "shutdown started", "scheduler stopped", "server stopped"):
            assert line in output, output
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _serve_and_stop_group(tmp_path, clients, **env: str) -> tuple[int, float, list[str]]:  # noqa: ANN001
    """Serve with one media worker and a seated person, then SIGTERM the whole process group
    (as a terminal or a process manager does): exit status, seconds to exit, output lines."""
    port = free_port()
    process = await _serve(tmp_path, port, PUBLICROOMS_MEDIA__WORKERS="1", **env)
    url = f"http://127.0.0.1:{port}"
    try:
        await _ready(url)
        person = await clients(url, "/public-room/deep-focus").connect()
        assert (await person.call("join-room", {"userName": "Sam"}))["success"]
        started = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 15)
        elapsed = time.monotonic() - started
        output = (await process.stdout.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return code, elapsed, [line for line in output.splitlines() if line.strip()]


async def test_group_sigterm_exits_0_within_a_second_workers_included_one_log_format(
        tmp_path, clients) -> None:
    code, elapsed, lines = await _serve_and_stop_group(tmp_path, clients)
    output = "\n".join(lines)
    assert code == 0, output
    assert elapsed < 1.0, f"shutdown took {elapsed:.2f}s"
    assert "died" not in output and "Traceback" not in output, output
    odd = [line for line in lines if not LOG_LINE.match(line)]
    assert odd == [], f"lines outside the one log format: {odd}"
    assert any("Uvicorn running" in line and "[uvicorn.error]" in line for line in lines)
    assert any("media worker 0 started" in line for line in lines), output
    assert any("media worker ready" in line and "media_worker=0" in line for line in lines), output
    assert any("migrations applied" in line and "0004" in line for line in lines), output

    # Started again on the same database: nothing to apply, and it says so.
    port = free_port()
    again = await _serve(tmp_path, port, PUBLICROOMS_MEDIA__ENABLED="false")
    try:
        await _ready(f"http://127.0.0.1:{port}")
        os.killpg(again.pid, signal.SIGINT)  # Ctrl-C
        assert await asyncio.wait_for(again.wait(), 15) == 0
        assert "schema up to date" in (await again.stdout.read()).decode()
    finally:
        if again.returncode is None:
            again.kill()
            await again.wait()


async def test_json_logging_covers_the_server_and_its_media_workers(tmp_path, clients) -> None:
    code, _, lines = await _serve_and_stop_group(
        tmp_path, clients, PUBLICROOMS_LOG_JSON="true", PUBLICROOMS_LOG_ACCESS="true",
        PUBLICROOMS_SYSTEM_CAPACTY="5")
    assert code == 0, lines
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    assert all({"event", "level", "timestamp"} <= record.keys() for record in records), records
    events = [(r.get("logger"), r["event"], r.get("media_worker")) for r in records]
    assert any(name == "publicrooms.media.worker" and "media worker ready" in event and worker == 0
               for name, event, worker in events), events
    assert any(name == "uvicorn.error" and "Uvicorn running" in event for name, event, _ in events)
    assert any(name == "uvicorn.access" for name, _, _ in events), events
    assert any("did you mean PUBLICROOMS_SYSTEM_CAPACITY?" in event for _, event, _ in events)
    assert any(event == "migrations applied" for _, event, _ in events)
    assert any(event == "server stopped" for _, event, _ in events)


async def test_sigterm_as_a_crowd_drops_at_once_ends_the_process_in_seconds(tmp_path) -> None:
    """1,200 members of 60 rooms drop together (the npm client's process exits) and SIGTERM
    follows at once. Their cleanups outlast a 1 s grace, so the sockets' tasks are cancelled
    halfway through; each cleanup still finishes before the database closes, and the process
    ends with status 0 (it used to wait for ever on a transaction cut short)."""
    rooms = [{"id": f"crowd-{i}", "name": f"Crowd {i}", "capacity": 25} for i in range(60)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = await _serve(tmp_path, port, PUBLICROOMS_MEDIA__ENABLED="false",
                           PUBLICROOMS_ROOMS=json.dumps(rooms), PUBLICROOMS_SYSTEM_CAPACITY="2000",
                           PUBLICROOMS_CLEANUP__SHUTDOWN_GRACE_S="1",
                           PUBLICROOMS_LOG_LEVEL="warning")
    output = bytearray()

    async def read() -> None:  # the pipe never fills while the crowd comes and goes
        while chunk := await process.stdout.read(65536):
            output.extend(chunk)

    reader = asyncio.create_task(read())
    try:
        await _ready(url)
        crowd = await asyncio.create_subprocess_exec(
            "node", str(Path(__file__).parent.parent / "node" / "crowd.mjs"), url, "crowd", "60",
            "1200", "40", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(crowd.communicate(), 240)
        assert json.loads(stdout.decode().splitlines()[-1]) == {"joined": 1200}, stderr.decode()
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 60)
        elapsed = time.monotonic() - started
        await reader
        text = output.decode()
        assert code == 0, text
        assert elapsed < 20, f"shutdown took {elapsed:.1f} s"
        assert "disconnect cleanup failed" not in text and "Traceback" not in text, text
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        reader.cancel()


async def test_make_run_stops_on_a_group_signal_without_a_make_error(tmp_path) -> None:
    port = free_port()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # -o: the venv and the page are already built here; `make run` itself is what is tested.
    process = await asyncio.create_subprocess_exec(
        "make", "-s", "-o", "install", "-o", "web", "run", f"PORT={port}",
        f"DATA_DIR={tmp_path / 'data'}", cwd=root,
        env=_env(PUBLICROOMS_MEDIA__ENABLED="false"), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    try:
        await _ready(f"http://127.0.0.1:{port}")
        os.killpg(process.pid, signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 15)
        output = (await process.stdout.read()).decode()
        assert "server stopped" in output, output
        assert "make: ***" not in output and "Terminated" not in output, output
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_bad_settings_stop_the_server_with_one_line(tmp_path) -> None:
    data = str(tmp_path / "data")
    cases = [
        ({"PUBLICROOMS_SYSTEM_CAPACITY": "0"}, ["PUBLICROOMS_SYSTEM_CAPACITY", "'0'", "greater than 0"]),
        ({"PUBLICROOMS_HISTORY_LENGTH": "-5"}, ["PUBLICROOMS_HISTORY_LENGTH", "'-5'", "greater than 0"]),
        ({"PUBLICROOMS_LIMITS__CHAT_PER_MINUTE": "many"},
         ["PUBLICROOMS_LIMITS__CHAT_PER_MINUTE", "'many'", "integer"]),
        ({"PUBLICROOMS_ROOMS": "[]"}, ["PUBLICROOMS_ROOMS", "'[]'", "at least 1"]),
        ({"PUBLICROOMS_ROOMS": '[{"id":"a","name":"A","capacity":0}]'},
         ["PUBLICROOMS_ROOMS", "capacity", "greater than or equal to 1"]),
        ({"PUBLICROOMS_MAX_MESSAGE_BYTES": "0"}, ["PUBLICROOMS_MAX_MESSAGE_BYTES", "'0'", "1024"]),
        ({"PUBLICROOMS_ROOMS": '[{"id":"a","name":"A"},{"id":"a","name":"B"}]'},
         ["PUBLICROOMS_ROOMS", "unique"]),
        ({"PUBLICROOMS_REDIS_URL": "http://example"}, ["PUBLICROOMS_REDIS_URL", "redis://"]),
        ({"PUBLICROOMS_DATABASE_URL": "mysql://x/y"}, ["PUBLICROOMS_DATABASE_URL", "postgresql+asyncpg"]),
    ]
    for env, expected in cases:
        result = run_cli("serve", "--data-dir", data, **env)
        assert result.returncode == 2, (env, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, (env, result.stderr)
        for part in expected:
            assert part in lines[0], (env, lines[0])


def test_unreachable_database_or_redis_is_named_in_one_line(tmp_path) -> None:
    closed = free_port()
    result = run_cli("serve", "--data-dir", str(tmp_path / "data"),
                     PUBLICROOMS_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{closed}/records")
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        f"publicrooms: cannot reach the PostgreSQL database 'records' on 127.0.0.1:{closed} "
        "(PUBLICROOMS_DATABASE_URL): connection refused"]
    result = run_cli("serve", "--data-dir", str(tmp_path / "data"), PUBLICROOMS_SECRET="s" * 32,
                     PUBLICROOMS_REDIS_URL=f"redis://127.0.0.1:{closed}/4")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"Redis at 127.0.0.1:{closed} db 4" in lines[0], lines
    assert "PUBLICROOMS_REDIS_URL" in lines[0] and "Traceback" not in result.stderr


def test_unknown_variables_help_and_config(tmp_path) -> None:
    result = run_cli("config", "--data-dir", str(tmp_path), PUBLICROOMS_SYSTEM_CAPACTY="5",
                     PUBLICROOMS_SECRET="very-secret-value", PUBLICROOMS_ADMIN_TOKEN="t" * 20,
                     PUBLICROOMS_DATABASE_URL="postgresql+asyncpg://app:hunter2@db.internal/rooms",
                     PUBLICROOMS_LIMITS__CHAT_PER_MINUTE="20")
    assert result.returncode == 0, result.stderr
    assert ("unknown setting PUBLICROOMS_SYSTEM_CAPACTY is ignored; did you mean "
            "PUBLICROOMS_SYSTEM_CAPACITY?") in result.stderr
    shown = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert shown["PUBLICROOMS_SECRET"] == "****" and shown["PUBLICROOMS_ADMIN_TOKEN"] == "****"
    assert shown["PUBLICROOMS_DATABASE_URL"] == "postgresql+asyncpg://app:***@db.internal/rooms"
    assert shown["PUBLICROOMS_LIMITS__CHAT_PER_MINUTE"] == "20"
    assert shown["PUBLICROOMS_SYSTEM_CAPACITY"] == "100"
    assert "hunter2" not in result.stdout and "very-secret" not in result.stdout
    help_text = run_cli("serve", "--help", COLUMNS="200").stdout
    for variable in ("PUBLICROOMS_SYSTEM_CAPACITY = 100", "PUBLICROOMS_LIMITS__CHAT_PER_MINUTE = 10",
                     "PUBLICROOMS_CLEANUP__RECONNECT_GRACE_S = 10.0", "PUBLICROOMS_ADMIN_TOKEN = unset",
                     "PUBLICROOMS_MEDIA__WORKERS = 0"):
        assert variable in help_text, variable


async def test_operator_cli_against_a_running_server(tmp_path, clients) -> None:
    token = "cli-operator-token-0123456789"
    port = free_port()
    process = await _serve(tmp_path, port, PUBLICROOMS_MEDIA__ENABLED="false",
                           PUBLICROOMS_ADMIN_TOKEN=token)
    url = f"http://127.0.0.1:{port}"
    env = {"PUBLICROOMS_ADMIN_URL": url, "PUBLICROOMS_ADMIN_TOKEN": token}

    async def cli(*args: str) -> subprocess.CompletedProcess:
        return await asyncio.to_thread(run_cli, "admin", *args, **env)

    try:
        await _ready(url)
        ana = await clients(url, "/public-room/deep-focus").connect()
        assert (await ana.call("join-room", {"userName": "Ana"}))["success"]
        bo = await clients(url, "/public-room/deep-focus").connect()
        bo_id = (await bo.call("join-room", {"userName": "Bo Troll"}))["self"]["userId"]
        report = await ana.call("report-user", {"userId": bo_id, "reason": "spam", "text": "ads"})

        rooms = await cli("rooms")
        assert rooms.returncode == 0 and "deep-focus" in rooms.stdout and "Bo Troll" in rooms.stdout
        found = await cli("find", "--name", "troll")
        assert bo_id in found.stdout and "reports=1" in found.stdout, found.stdout
        listed = await cli("reports")
        assert report["reportId"] in listed.stdout and "'ads'" in listed.stdout
        kicked = await cli("kick", bo_id, "--reason", "ads")
        assert kicked.returncode == 0 and "1 socket" in kicked.stdout
        await wait_for(lambda: bo.events["kicked"], "Bo is told")
        banned = await cli("ban", "--report", report["reportId"], "--reason", "spam bot",
                           "--duration-s", "600", "--public-reason", "Advertising.")
        assert banned.returncode == 0 and "banned" in banned.stdout, banned.stderr
        assert "active" in (await cli("bans")).stdout
        assert (await cli("resolve", report["reportId"], "--resolution", "banned")).returncode == 0
        assert report["reportId"] not in (await cli("reports")).stdout
        assert (await cli("suspicious")).returncode == 0
        assert (await cli("unban", "--user", bo_id)).returncode == 0
        again = await cli("unban", "--user", bo_id)
        assert again.returncode == 1 and again.stderr.startswith("publicrooms: NOT_FOUND")
        wrong = await asyncio.to_thread(run_cli, "admin", "rooms", PUBLICROOMS_ADMIN_URL=url,
                                        PUBLICROOMS_ADMIN_TOKEN="wrong-token-000000000")
        assert wrong.returncode == 1 and "UNAUTHORIZED" in wrong.stderr
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request) -> str | None:  # noqa: ANN001
    """None: the default SQLite file in the data directory."""
    return request.getfixturevalue("pg_database_url") if request.param == "postgres" else None


async def test_acknowledged_messages_survive_kill_9_right_after_the_ack(
        tmp_path, clients, database_url) -> None:  # noqa: ANN001
    env = {"PUBLICROOMS_MEDIA__ENABLED": "false", "PUBLICROOMS_LIMITS__CHAT_PER_MINUTE": "1000",
           # Batches of several messages (group commit), as under load.
           "PUBLICROOMS_CHAT_COMMIT_WINDOW_S": "0.005"}
    if database_url:
        env["PUBLICROOMS_DATABASE_URL"] = database_url
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = await _serve(tmp_path, port, **env)
    try:
        await _ready(url)
        senders = []
        for name in ("Ana", "Bo", "Cy"):
            sender = await clients(url, "/public-room/deep-focus").connect()
            assert (await sender.call("join-room", {"userName": name}))["success"]
            senders.append(sender)
        acks = await asyncio.gather(*(s.call("send-message", {"content": f"{i}.{n}"})
                                      for n in range(8) for i, s in enumerate(senders)))
        os.killpg(process.pid, signal.SIGKILL)  # the instant the last ack arrived
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert all(ack["success"] for ack in acks), acks
    acked = {ack["message"]["id"] for ack in acks}

    again = await _serve(tmp_path, port, **env)
    try:
        await _ready(url)
        late = await clients(url, "/public-room/deep-focus").connect()
        history = (await late.call("join-room", {"userName": "Late"}))["recentMessages"]
        assert {m["id"] for m in history} == acked
    finally:
        os.killpg(again.pid, signal.SIGKILL)
        await again.wait()
