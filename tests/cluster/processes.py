"""Processes for the multi-node tests: `publicrooms serve` nodes on chosen ports, and probes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.clients import wait_for

REPO = Path(__file__).resolve().parents[2]
NODE_SCRIPTS = REPO / "tests" / "node"
PUBLICROOMS_BIN = Path(sys.executable).with_name("publicrooms")
SECRET = "cluster-test-secret-0123456789abcdef"

# Short liveness settings keep the scenarios quick: a dropped seat is held 2 s, a node that
# stops heartbeating (every 0.5 s) is declared dead after 2 s.
GRACE_S = 2.0
HEARTBEAT_INTERVAL_S = 0.5
HEARTBEAT_TIMEOUT_S = 2.0


def free_ports(count: int) -> list[int]:
    """`count` distinct ports that were free a moment ago (held together while chosen)."""
    probes = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            probes.append(probe)
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


async def is_ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"{url}/ready")).status_code == 200
    except httpx.HTTPError:
        return False


async def socket_count(url: str) -> int:
    """Open Socket.IO connections on one node (its own /metrics)."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{url}/metrics")).text
    for line in text.splitlines():
        if line.startswith("publicrooms_socket_connections "):
            return int(float(line.split()[1]))
    raise AssertionError(f"no socket gauge in {url}/metrics")


def tail(path: Path, lines: int = 150) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(unreadable: {error})"


class Node:
    """One `publicrooms serve` process on a fixed port; restartable on that port."""

    def __init__(self, index: int, port: int, env: dict[str, str], data_dir: Path,
                 log_path: Path) -> None:
        self.index = index
        self.port = port
        self.env = env
        self.data_dir = data_dir
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Node:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with self.log_path.open("a") as log:
            log.write(f"\n===== start #{self.starts} on port {self.port} =====\n")
            log.flush()
            self.process = subprocess.Popen(
                [str(PUBLICROOMS_BIN), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--data-dir", str(self.data_dir)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def ready(self, timeout_s: float = 90) -> None:
        async def up() -> bool:
            assert self.running, f"node {self.index} exited:\n{tail(self.log_path, 40)}"
            return await is_ready(self.url)

        await wait_for(up, f"node {self.index} ready on {self.url}", timeout_s=timeout_s,
                       interval_s=0.1)

    def signal(self, signum: int) -> None:
        if self.running:
            self.process.send_signal(signum)

    async def exited(self, timeout_s: float = 30) -> int:
        await wait_for(lambda: not self.running, f"node {self.index} exits",
                       timeout_s=timeout_s, interval_s=0.05)
        return self.process.returncode

    def kill(self) -> None:
        if self.running:
            self.process.kill()
        if self.process is not None:
            self.process.wait(10)


def attach_logs(request, *paths: Path) -> None:  # noqa: ANN001 - a pytest FixtureRequest
    """Logs shown with the report if the test fails (see conftest's report hook)."""
    request.node.__dict__.setdefault("cluster_logs", []).extend(paths)


def kill_tree(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def all_ready(nodes: list[Node]) -> None:
    await asyncio.gather(*(node.ready() for node in nodes))


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, their children...), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def is_alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"
