"""Interoperability with the npm socket.io-client (the client browsers and Node apps use)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.support.clients import new_ip

NODE_DIR = Path(__file__).parent.parent / "node"


@pytest.mark.parametrize("transports", ["websocket", "polling", "default"])
async def test_npm_socket_io_client_full_flow(server, transports) -> None:
    assert (NODE_DIR / "node_modules" / "socket.io-client").exists(), \
        "run `npm ci` in tests/node (the Makefile's test target does)"
    process = await asyncio.create_subprocess_exec(
        "node", str(NODE_DIR / "interop.mjs"), server.url, "deep-focus", transports,
        new_ip(), new_ip(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result["ok"], (result, stderr.decode())
    assert result["joinA"]["success"] and result["joinB"]["room"]["currentOccupancy"] == 2
    assert [p["displayName"] for p in result["joinB"]["participants"]] == ["Ada", "Bob"]
    assert result["sent"]["message"]["content"] == "hi from node"
    seen_a = result["seenA"]
    assert seen_a["user-joined"][0]["userName"] == "Bob"
    assert seen_a["new-message"][0]["message"]["senderName"] == "Bob"
    assert seen_a["participant-video-toggle"][0] == {"userId": result["joinB"]["self"]["userId"],
                                                     "enabled": True}
    assert seen_a["user-left"][0]["currentOccupancy"] == 1
    assert result["left"] == {"success": True}
    assert len(seen_a["lobby:rooms"][0]["rooms"]) == 10
    # With both transports allowed the client upgrades from polling to websocket.
    expected = {"websocket": "websocket", "polling": "polling", "default": "websocket"}
    assert result["transportUsed"] == expected[transports]


async def test_npm_client_takes_a_refusal_as_final(server) -> None:
    process = await asyncio.create_subprocess_exec(
        "node", str(NODE_DIR / "refusal.mjs"), server.url, new_ip(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result["firstConnected"] and result["secondConnected"], (result, stderr.decode())
    assert [r["code"] for r in result["rejected"]] == ["TOO_MANY_CONNECTIONS"], result
    assert result["disconnects"] == ["io server disconnect"], result
    assert result["reconnectAttempts"] == 0 and result["connects"] == 1, result
