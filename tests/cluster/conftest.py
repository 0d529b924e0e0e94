"""A real local Redis Cluster (3 masters, 1 replica each) beside the real single node of tests.redis_fixtures.

The session's cluster serves the store tests, flushed before each; a test that kills nodes gets a cluster
of its own (`fresh_cluster`). Every cluster is stopped, every node's process group killed, even when a
test or the fixture itself fails.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.cluster import LocalCluster
from tests.redis_fixtures import _binary
from verify_api.redis_server import RedisServer
from verify_api.store import Store

NODE_TIMEOUT_MS = 2000


def _require_tools() -> None:
    if not shutil.which("redis-cli"):
        pytest.fail("redis-cli is missing: apt-get install redis-tools (scripts/system-deps.sh test does it)")


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    _require_tools()
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), node_timeout_ms=NODE_TIMEOUT_MS, binary=_binary())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of the test's own, free to lose nodes."""
    _require_tools()
    cluster = LocalCluster(tmp_path / "cluster", node_timeout_ms=NODE_TIMEOUT_MS, binary=_binary())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@dataclass
class Backend:
    """Where a store test runs: `single` (one redis-server on a unix socket) or `cluster`."""

    name: str
    url: str
    replicas: int
    cluster: LocalCluster | None = None
    server: RedisServer | None = None

    def store(self, **kwargs) -> Store:
        return Store(self.url, timeout=2.0, replicas=self.replicas, **kwargs)


@pytest.fixture(params=["single", "cluster"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "single":
        server: RedisServer = request.getfixturevalue("redis_server")
        with server.client() as client:
            client.flushall()
        return Backend("single", server.url, 0, server=server)
    cluster: LocalCluster = request.getfixturevalue("local_cluster")
    cluster.wait_ready(30)
    cluster.flushall()
    return Backend("cluster", cluster.url, 1, cluster=cluster)


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    store = backend.store()
    yield store
    store.client.close()


@pytest.fixture(scope="session")
def demo_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo keys and the signed trust list, made once (key generation is the slow part)."""
    from verify_api import demo

    data_dir = tmp_path_factory.mktemp("demo-keys")
    demo.ensure_keys(data_dir)
    return data_dir


@pytest.fixture
def demo_data_dir(local_cluster: LocalCluster, demo_keys_dir: Path, tmp_path: Path) -> Path:
    """The session's cluster ready and emptied, and a data directory of the test's own with the demo keys and
    trust list: what a service on the cluster needs."""
    local_cluster.wait_ready(30)
    local_cluster.flushall()
    data_dir = tmp_path / "data"
    shutil.copytree(demo_keys_dir, data_dir)
    return data_dir
