"""Security tests: the verify_api fixtures (real Redis, demo keys) plus an app factory with chosen settings."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.verify_api.conftest import (  # noqa: F401 - fixtures
    app,
    client,
    config,
    data_dir,
    demo_keys,
    demo_keys_dir,
    manifest,
    store,
    token,
)
from verify_api import create_app
from verify_api.config import Config


@pytest.fixture
def make_app(config: Config) -> Callable[..., Flask]:  # noqa: F811 - the fixture above
    """create_app on the test's Redis and data directory with some settings changed."""
    def make(**overrides) -> Flask:
        made = create_app(config.with_(**overrides))
        made.testing = True
        return made
    return make


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """`crane-verify serve --demo` (gunicorn, 2 workers) on a redis-server of the module's own."""
    from tests.redis_fixtures import _binary
    from tests.reliability.live import LiveService
    from verify_api.redis_server import RedisServer

    root = tmp_path_factory.mktemp("live")
    with RedisServer(root / "redis", binary=_binary()) as redis, \
            LiveService(root / "data", args=("--demo",), env={"REDIS_URL": redis.url}) as service:
        yield service
