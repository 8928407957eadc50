"""Real `publicrooms serve` processes sharing Redis and PostgreSQL (and HAProxy in front).

Every process a test starts is killed in teardown, every Redis key under the test's prefix is
deleted, and on failure each process's log is attached to the report.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.processes import (
    GRACE_S,
    HEARTBEAT_INTERVAL_S,
    HEARTBEAT_TIMEOUT_S,
    PUBLICROOMS_BIN,
    SECRET,
    Node,
    attach_logs,
    free_ports,
    tail,
)
from tests.conftest import REDIS_URL
from tests.support.cluster import delete_prefix


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for path in item.__dict__.get("cluster_logs", []):
            report.sections.append((f"log {path.name}", tail(path)))


@pytest.fixture(autouse=True)
def _needs_binaries() -> None:
    if not PUBLICROOMS_BIN.exists():
        pytest.fail(f"{PUBLICROOMS_BIN} missing: install the package (make install)")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    yield prefix
    asyncio.run(delete_prefix(REDIS_URL, prefix))


@pytest.fixture
def node_env(redis_prefix: str) -> dict[str, str]:
    """What every node of a test shares (the database is added by `nodes`)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PUBLICROOMS_")}
    env.update({
        "PUBLICROOMS_REDIS_URL": REDIS_URL,
        "PUBLICROOMS_REDIS_PREFIX": redis_prefix,
        "PUBLICROOMS_SECRET": SECRET,
        "PUBLICROOMS_TRUSTED_PROXIES": "127.0.0.1",
        "PUBLICROOMS_MEDIA__ENABLED": "false",
        "PUBLICROOMS_LOG_LEVEL": "info",
        "PUBLICROOMS_GC_FREEZE": "false",
        "PUBLICROOMS_CLEANUP__RECONNECT_GRACE_S": str(GRACE_S),
        "PUBLICROOMS_CLEANUP__SHUTDOWN_GRACE_S": "1",
        "PUBLICROOMS_NODE_HEARTBEAT_INTERVAL_S": str(HEARTBEAT_INTERVAL_S),
        "PUBLICROOMS_NODE_HEARTBEAT_TIMEOUT_S": str(HEARTBEAT_TIMEOUT_S),
    })
    return env


@pytest.fixture
def nodes(request: pytest.FixtureRequest, tmp_path: Path, node_env: dict[str, str],
          pg_database_url: str) -> Iterator[Callable[..., list[Node]]]:
    """Factory: `nodes(3, **extra_env)` starts that many processes (not yet awaited ready)."""
    started: list[Node] = []

    def start(count: int, **extra_env: str) -> list[Node]:
        env = {**node_env, "PUBLICROOMS_DATABASE_URL": pg_database_url, **extra_env}
        made = []
        for port in free_ports(count):
            index = len(started)
            node = Node(index, port, env, tmp_path / f"node{index}",
                        tmp_path / f"node{index}.log")
            attach_logs(request, node.log_path)
            started.append(node)
            made.append(node.start())
        return made

    yield start
    for node in started:
        node.kill()


@pytest.fixture
def haproxy_bin() -> str:
    path = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists()
                                       else None)
    if path is None:
        pytest.skip("haproxy is not installed (make haproxy-deps)")
    return path
