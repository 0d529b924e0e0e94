import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from verify_api import create_app, demo
from verify_api.config import Config


@pytest.fixture(scope="session")
def demo_keys_dir(tmp_path_factory) -> Path:
    """Demo keys and the signed trust list, made once per session (key generation is the slow part)."""
    data_dir = tmp_path_factory.mktemp("demo-keys")
    demo.ensure_keys(data_dir)
    return data_dir


@pytest.fixture
def data_dir(demo_keys_dir, tmp_path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(demo_keys_dir, target)
    return target


@pytest.fixture
def config(data_dir, redis_url) -> Config:
    # A loaded test machine can hold Redis's fsync (appendfsync always) past the service's one-second
    # budget; the tests of a hung store set their own. The status cache is off: see tests/inspections/conftest.py.
    return Config(data_dir=data_dir, redis_url=redis_url, public_url="https://verify.example.cn", rate_limit=None,
                  redis_timeout=5.0, status_cache_s=0)


@pytest.fixture
def app(config):
    app = create_app(config)
    app.testing = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    return app.extensions["crane"].store


@pytest.fixture
def manifest(app, store, data_dir) -> dict:
    """The demo certificates registered in this test's Redis; returns the manifest."""
    path, _ = demo.build(store, data_dir, app.extensions["crane"].config.public_url, datetime.now(UTC))
    return json.loads(path.read_text("utf-8"))


@pytest.fixture
def demo_keys(data_dir) -> demo.DemoKeys:
    return demo.ensure_keys(data_dir)


@pytest.fixture
def token(store) -> str:
    """A bearer token of 沈阳 (210100)."""
    return store.create_token("210100", datetime.now(UTC))[1]


def by_state(manifest: dict, state: str) -> list[dict]:
    return [c for c in manifest["certificates"] if c["expected_status"] == state]
