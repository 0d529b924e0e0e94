"""Fault injection against the real service: a redis-server of the test's own, gunicorn as users run it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from verify_api import demo
from verify_api.redis_server import RedisServer
from verify_api.store import Store

from .live import LiveService


@pytest.fixture
def keys_dir(tmp_path: Path) -> tuple[Path, demo.DemoKeys]:
    """A data directory with the demo keys and signed trust list (no certificates yet)."""
    data_dir = tmp_path / "data"
    return data_dir, demo.ensure_keys(data_dir)


@pytest.fixture
def serve(fresh_redis_server: RedisServer, keys_dir) -> Iterator[Callable[..., LiveService]]:
    """Start `crane-verify serve ARGS` on the test's own redis-server; stopped before that server is."""
    started: list[LiveService] = []

    def start(*args: str, **env: str) -> LiveService:
        service = LiveService(keys_dir[0], args=args, env={"REDIS_URL": fresh_redis_server.url, **env})
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


def make_token(redis: RedisServer, issuer: str = "210100") -> tuple[str, str]:
    """(token_id, token) written straight into the store, as `crane-verify token create` does."""
    store = Store(redis.url, timeout=5.0)
    try:
        return store.create_token(issuer, datetime.now(UTC))
    finally:
        store.client.close()
