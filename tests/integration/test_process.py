"""The `publicrooms serve` command as a process: starts on defaults, drains on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time

import httpx

from tests.support.clients import wait_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_serve_starts_on_defaults_and_drains_on_sigterm(tmp_path, clients) -> None:
    port = free_port()
    env = {**os.environ, "PUBLICROOMS_MEDIA__ENABLED": "false"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "publicrooms.cli", "serve", "--port", str(port),
        "--data-dir", str(tmp_path / "data"), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        async def up() -> bool:
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(url + "/ready")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(up, "server ready", timeout_s=30)
        assert (tmp_path / "data" / "publicrooms.db").exists()
        assert (tmp_path / "data" / "secret.key").exists()
        person = await clients(url, "/public-room/deep-focus").connect()
        assert (await person.call("join-room", {"userName": "Sam"}))["success"]

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await wait_for(lambda: person.events["server-shutting-down"], "clients are told")
        await wait_for(lambda: not person.connected, "clients are disconnected")
        code = await asyncio.wait_for(process.wait(), 15)
        # uvicorn re-raises the signal once shut down, so the exit status names SIGTERM.
        assert code in (0, -signal.SIGTERM) and time.monotonic() - started < 10
        output = (await process.stdout.read()).decode()
        for line in ("server started", "shutdown started", "scheduler stopped", "server stopped"):
            assert line in output, output
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
