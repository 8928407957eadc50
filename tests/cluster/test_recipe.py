"""The README's scale-out recipe, run as written: three nodes behind HAProxy act as one server.

The fenced block between `<!-- scale-out recipe -->` and `<!-- /scale-out recipe -->` runs with
bash (free ports, a fresh Redis prefix and database through its environment overrides); then,
through HAProxy only: python-socketio over WebSocket and over long-polling (sticky), the npm
socket.io-client on its default transports (polling upgraded to WebSocket), and per-IP
connection limits that count each visitor's X-Forwarded-For address across the nodes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import socketio

from tests.cluster.processes import (
    NODE_SCRIPTS,
    PUBLICROOMS_BIN,
    REPO,
    attach_logs,
    free_ports,
    is_ready,
    kill_tree,
    socket_count,
)
from tests.conftest import REDIS_URL
from tests.support.clients import SocketClient, new_ip, wait_for
from tests.support.postgres import PG_ADMIN_DSN, drop_database

pytestmark = [pytest.mark.cluster, pytest.mark.redis, pytest.mark.postgres]

ROOM = "deep-focus"
NAMESPACE = f"/public-room/{ROOM}"
RECIPE = re.compile(r"<!-- scale-out recipe -->\s*```sh\n(.*?)```\s*<!-- /scale-out recipe -->",
                    re.DOTALL)


def readme_recipe() -> str:
    found = RECIPE.findall((REPO / "README.md").read_text())
    assert len(found) == 1, "README.md must hold exactly one scale-out recipe block"
    return found[0]


@dataclass
class Deployment:
    lb_url: str
    node_urls: list[str]
    run_dir: Path


@pytest.fixture
def deployment(request, tmp_path, haproxy_bin, redis_prefix) -> Iterator[Deployment]:  # noqa: ANN001
    lb_port, *node_ports = free_ports(4)
    run_dir = tmp_path / "run"
    database = f"publicrooms_recipe_{uuid.uuid4().hex[:10]}"
    pg_base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    env = {key: value for key, value in os.environ.items() if not key.startswith("PUBLICROOMS_")}
    env.update({
        "PATH": f"{Path(haproxy_bin).parent}:{env.get('PATH', '/usr/bin:/bin')}",
        "NODE_PORTS": " ".join(map(str, node_ports)),
        "LB_PORT": str(lb_port),
        "RUN_DIR": str(run_dir),
        "PG_URL": f"{pg_base}/{database}",
        "PUBLICROOMS_BIN": str(PUBLICROOMS_BIN),
        "PUBLICROOMS_REDIS_URL": REDIS_URL,
        "PUBLICROOMS_REDIS_PREFIX": redis_prefix,
        "PUBLICROOMS_MEDIA__ENABLED": "false",
        "PUBLICROOMS_LOG_LEVEL": "info",
        "PUBLICROOMS_GC_FREEZE": "false",
        "PUBLICROOMS_CLEANUP__SHUTDOWN_GRACE_S": "1",
        "PUBLICROOMS_NODE_HEARTBEAT_INTERVAL_S": "0.5",
        "PUBLICROOMS_NODE_HEARTBEAT_TIMEOUT_S": "2",
    })
    log = tmp_path / "recipe.log"
    attach_logs(request, log, *(run_dir / f"node{i}.log" for i in (1, 2, 3)),
                run_dir / "haproxy.log")
    with log.open("w") as out:
        # Its own process group: the nodes and HAProxy it starts in the background stay in it.
        shell = subprocess.Popen(["bash", "-c", readme_recipe()], cwd=REPO, env=env,
                                 stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
    try:
        try:
            shell.wait(240)
        except subprocess.TimeoutExpired:
            pytest.fail("the recipe did not finish within 240 s")
        assert shell.returncode == 0, f"the recipe failed ({shell.returncode}):\n{log.read_text()}"
        yield Deployment(f"http://127.0.0.1:{lb_port}",
                         [f"http://127.0.0.1:{port}" for port in node_ports], run_dir)
    finally:
        pids = []
        for pid_file in run_dir.glob("*.pid"):
            try:
                pids.append(int(pid_file.read_text().strip()))
            except ValueError:
                pass
        kill_tree(pids)
        try:
            os.killpg(shell.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shell.wait(10)
        asyncio.run(drop_database(database))


def message_ids(client: SocketClient) -> list[str]:
    return [event["message"]["id"] for event in client.events["new-message"]]


async def forged_admission(url: str, ip: str, forged: str) -> dict | None:
    """Connect from `ip` claiming X-Forwarded-For `forged`: None if admitted, else the refusal."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(ip, 0), force_close=True))
    sio = socketio.AsyncClient(http_session=session, reconnection=False, request_timeout=10)
    rejected: list[dict] = []

    @sio.on("connection-rejected")
    async def on_rejected(data: dict) -> None:
        rejected.append(data)

    async def outcome() -> str | None:
        if rejected:
            return "refused"
        try:
            ack = await sio.call("pong", timeout=2)
        except socketio.exceptions.SocketIOError:
            return None
        return "admitted" if isinstance(ack, dict) and ack.get("success") else None

    try:
        try:
            await sio.connect(url, transports=["websocket"], wait_timeout=10,
                              headers={"X-Forwarded-For": forged})
        except socketio.exceptions.ConnectionError:
            pass
        result = await wait_for(outcome, "the forged connection is admitted or refused")
        return rejected[0] if result == "refused" else None
    finally:
        try:
            await asyncio.wait_for(sio.disconnect(), 2)
        except (Exception, asyncio.TimeoutError):  # noqa: BLE001
            pass
        await session.close()


async def counts(deployment: Deployment) -> list[int]:
    return [await socket_count(url) for url in deployment.node_urls]


async def test_readme_recipe_serves_through_haproxy(deployment: Deployment, clients) -> None:
    lb = deployment.lb_url
    assert await is_ready(lb)
    assert all([await is_ready(url) for url in deployment.node_urls])
    # One secret, generated once and shared by all three nodes.
    assert len((deployment.run_dir / "secret").read_text()) == 64

    # python-socketio through the balancer: one person on WebSocket, one on long-polling
    # (every poll and post of that session must reach the node holding it).
    ada = clients(lb, NAMESPACE)
    bob = clients(lb, NAMESPACE)
    await ada.connect(transports=["websocket"])
    await bob.connect(transports=["polling"])
    assert await ada.admission() is None and await bob.admission() is None
    assert bob.sio.transport() == "polling"
    join_ada = await ada.call("join-room", {"userName": "Ada"})
    join_bob = await bob.call("join-room", {"userName": "Bob"})
    assert join_ada["success"] and join_bob["success"], (join_ada, join_bob)
    assert join_bob["room"]["currentOccupancy"] == 2
    sent = []
    for i in range(4):
        for speaker in (ada, bob):
            ack = await speaker.call("send-message", {"content": f"message {i}"})
            assert ack["success"], ack
            sent.append(ack["message"]["id"])
    # The last is a marker: a duplicate of any earlier message would have arrived before it.
    await wait_for(lambda: sent[-1] in message_ids(ada) and sent[-1] in message_ids(bob),
                   "both receive every message")
    assert message_ids(ada) == sent and message_ids(bob) == sent
    await asyncio.gather(ada.close(), bob.close())

    # The npm client on its default transports: long-polling, then upgraded to WebSocket.
    assert (NODE_SCRIPTS / "node_modules" / "socket.io-client").exists(), \
        "run `npm ci` in tests/node (the Makefile's test target does)"
    process = await asyncio.create_subprocess_exec(
        "node", str(NODE_SCRIPTS / "cluster-chat.mjs"), lb, ROOM, new_ip(), new_ip(), "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result["ok"], (result, stderr.decode())
    assert result["occupancy"] == 2
    assert len(result["acked"]) == 6
    assert result["seenA"] == result["acked"] and result["seenB"] == result["acked"], result
    assert result["transportsA"] == ["polling", "websocket"], result
    assert result["transportsB"] == ["polling", "websocket"], result

    # Everyone above has gone: no socket left on any node.
    await wait_for(lambda: _all_zero(deployment), "every node's sockets closed", timeout_s=30)

    # Client addresses come from X-Forwarded-For, and the per-IP connection limit counts
    # across nodes: one address's two sockets land on two nodes (round-robin), its third is
    # refused wherever it lands; two other addresses still get in. (Were X-Forwarded-For
    # ignored, everyone would be HAProxy's 127.0.0.1 and share two sockets.)
    crowd_ip = new_ip()
    placed: list[int] = []

    async def admitted(ip: str) -> int:
        before = await counts(deployment)
        client = clients(lb, "/", ip=ip)
        await client.connect()
        assert await client.admission() is None, ip
        after = await counts(deployment)
        grown = [i for i, (b, a) in enumerate(zip(before, after)) if a == b + 1]
        assert len(grown) == 1 and sum(after) == sum(before) + 1, (before, after)
        return grown[0]

    placed.append(await admitted(crowd_ip))
    placed.append(await admitted(crowd_ip))
    assert placed[0] != placed[1], f"round-robin put both sockets on node {placed[0]}"
    third = clients(lb, "/", ip=crowd_ip)
    await third.connect(expect_refusal=True)
    refusal = await third.admission()
    assert refusal is not None and refusal["code"] == "TOO_MANY_CONNECTIONS", refusal
    # A forged X-Forwarded-For doesn't help: HAProxy appends the real address, and the nodes
    # take the rightmost address that is not a trusted proxy.
    forged = await forged_admission(lb, crowd_ip, "203.0.113.7")
    assert forged is not None and forged["code"] == "TOO_MANY_CONNECTIONS", forged
    placed.append(await admitted(new_ip()))
    placed.append(await admitted(new_ip()))
    assert len(set(placed)) >= 2, placed
    # Nor can a newcomer spend someone else's allowance by naming their address.
    assert await forged_admission(lb, new_ip(), crowd_ip) is None


async def _all_zero(deployment: Deployment) -> bool:
    return sum(await counts(deployment)) == 0
