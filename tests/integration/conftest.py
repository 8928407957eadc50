"""Integration scenarios run twice: on one node in memory mode, and on three Redis-linked nodes.

On three nodes each read of `server.url` names the next node, so consecutive clients (and a
REST call and the socket that follows it) land on different nodes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator

import pytest

from publicrooms.clock import FakeClock
from tests.conftest import REDIS_URL, make_settings
from tests.support.cluster import Cluster, delete_prefix
from tests.support.live import LiveServer

THREE = "three-nodes"


@pytest.fixture(params=["one-node", pytest.param(THREE, marks=[pytest.mark.redis,
                                                                pytest.mark.postgres])])
def topology(request) -> str:  # noqa: ANN001
    return request.param


@pytest.fixture
def server_factory(request, tmp_path, topology) -> Iterator[Callable[..., LiveServer]]:  # noqa: ANN001
    started: list[LiveServer | Cluster] = []
    prefixes: list[str] = []
    # One database for the whole cluster (made now: tests call start() inside their loop).
    database_url = request.getfixturevalue("pg_database_url") if topology == THREE else None

    def start(clock: FakeClock | None = None, *, nodes: int = 3, **overrides):  # noqa: ANN003, ANN202
        if topology != THREE:
            server = LiveServer(make_settings(tmp_path, **overrides), clock).start()
            started.append(server)
            return server
        prefix = f"t{uuid.uuid4().hex[:10]}:"
        prefixes.append(prefix)
        overrides.setdefault("database_url", database_url)
        settings = [make_settings(tmp_path / f"node{i}", redis_url=REDIS_URL,
                                  redis_prefix=prefix, **overrides) for i in range(nodes)]
        cluster = Cluster(settings, clock)
        started.append(cluster)
        return cluster.start()

    yield start
    for server in started:
        server.stop()
    for prefix in prefixes:
        asyncio.run(delete_prefix(REDIS_URL, prefix))


@pytest.fixture
def cluster_factory(request, tmp_path) -> Iterator[Callable[..., Cluster]]:  # noqa: ANN001
    """Clusters only (multi-node scenarios): Redis-linked nodes on one PostgreSQL database."""
    started: list[Cluster] = []
    prefixes: list[str] = []
    database_url = request.getfixturevalue("pg_database_url")

    def start(clock: FakeClock | None = None, *, nodes: int = 3, **overrides) -> Cluster:  # noqa: ANN003
        prefix = f"t{uuid.uuid4().hex[:10]}:"
        prefixes.append(prefix)
        overrides.setdefault("database_url", database_url)
        overrides.setdefault("redis_url", REDIS_URL)
        settings = [make_settings(tmp_path / f"node{i}", redis_prefix=prefix, **overrides)
                    for i in range(nodes)]
        cluster = Cluster(settings, clock)
        started.append(cluster)
        return cluster.start()

    yield start
    for cluster in started:
        cluster.stop()
    for prefix in prefixes:
        asyncio.run(delete_prefix(REDIS_URL, prefix))


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001
    # Scenarios about one process's internals, and SQLite (one file, one node), run on one node.
    keep, drop = [], []
    for item in items:
        three = f"[{THREE}" in item.nodeid or f"-{THREE}" in item.nodeid
        if three and (item.get_closest_marker("single_node") or "sqlite" in item.nodeid):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
