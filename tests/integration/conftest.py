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
from tests.support.live import LiveServer, stop_all

THREE = "three-nodes"


@pytest.fixture(params=["one-node", pytest.param(THREE, marks=[pytest.mark.redis,
                                                                pytest.mark.postgres])])
def topology(request) -> str:  # noqa: ANN001
    return request.param


class _Clusters:
    """Starts clusters for one test (each on its own Redis prefix) and cleans up after it."""

    def __init__(self, tmp_path, database_url: str | None) -> None:  # noqa: ANN001
        self._tmp_path = tmp_path
        self._database_url = database_url
        self.started: list[Cluster] = []
        self._prefixes: list[str] = []

    def start(self, clock: FakeClock | None = None, *, nodes: int = 3,
              **overrides) -> Cluster:  # noqa: ANN003
        prefix = f"t{uuid.uuid4().hex[:10]}:"
        self._prefixes.append(prefix)
        overrides.setdefault("database_url", self._database_url)
        overrides.setdefault("redis_url", REDIS_URL)
        settings = [make_settings(self._tmp_path / f"node{i}", redis_prefix=prefix, **overrides)
                    for i in range(nodes)]
        cluster = Cluster(settings, clock)
        self.started.append(cluster)
        return cluster.start()

    def close(self) -> None:
        try:
            stop_all(self.started)
        finally:
            for prefix in self._prefixes:
                asyncio.run(delete_prefix(REDIS_URL, prefix))


@pytest.fixture
def server_factory(server_factory, request, tmp_path, topology) -> Iterator[Callable[..., LiveServer]]:  # noqa: ANN001
    """One node as everywhere else, or (three nodes) a cluster that answers to the same calls."""
    if topology != THREE:
        yield server_factory
        return
    # One database for the whole cluster (made now: tests call start() inside their loop).
    clusters = _Clusters(tmp_path, request.getfixturevalue("pg_database_url"))
    yield clusters.start
    clusters.close()


@pytest.fixture
def cluster_factory(request, tmp_path) -> Iterator[Callable[..., Cluster]]:  # noqa: ANN001
    """Clusters only (multi-node scenarios): Redis-linked nodes on one PostgreSQL database."""
    clusters = _Clusters(tmp_path, request.getfixturevalue("pg_database_url"))
    yield clusters.start
    clusters.close()


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
