"""Fixtures for inspection records: the app on a real redis-server with the demo certificates, a clock the
test moves, and tokens of each role."""

from __future__ import annotations

import base64
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image

# app, client and store are the service's own fixtures, over this package's config (its clock)
from tests.verify_api.conftest import app, by_state, client, data_dir, demo_keys_dir, store  # noqa: F401 - fixtures
from verify_api import demo
from verify_api.config import Config
from verify_api.store.tokens import Role

# The demo certificates are signed up to today: the tests' clock starts now and moves only forward.
PUBLIC_URL = "https://verify.example.cn"
START = datetime.now(UTC).replace(microsecond=0)


class Clock:
    """The service's clock, moved by the test (never the real one, never slept on)."""

    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config(data_dir, redis_url, clock) -> Config:  # noqa: F811
    # A loaded test machine can hold Redis's fsync (appendfsync always) past the service's one-second
    # budget; the tests of a hung store set their own. The status cache is off: these tests change
    # certificates through a store of their own and read them through the app in the same process, at
    # once, which the cache promises only within its bound (its tests: tests/reliability/test_status_cache.py).
    return Config(data_dir=data_dir, redis_url=redis_url, public_url=PUBLIC_URL, rate_limit=None,
                  now=clock, redis_timeout=5.0, status_cache_s=0)


@pytest.fixture(scope="session")
def demo_set(demo_keys_dir, tmp_path_factory) -> tuple[list[demo.DemoCertificate], dict]:  # noqa: F811
    """The demo certificates signed and their QR images drawn once per session."""
    keys = demo.ensure_keys(demo_keys_dir)
    certificates = demo.demo_certificates(keys, PUBLIC_URL)
    path = demo.write_manifest(tmp_path_factory.mktemp("demo"), certificates, PUBLIC_URL,
                              demo_keys_dir / "trust" / "root.pub.pem")
    return certificates, json.loads(path.read_text("utf-8"))


class Snapshot:
    """The registry as the demo left it, kept as DUMPs: restoring it costs one round trip, loading it ~2 s."""

    keys: dict[bytes, bytes] | None = None


@pytest.fixture(scope="session")
def registry_snapshot() -> Snapshot:
    return Snapshot()


_NOT_REGISTRY = (b"crane:{t:", b"crane:{i:", b"crane:{s:", b"crane:{e:", b"LIMITS")


@pytest.fixture
def manifest(store, demo_set, clock, redis_client, registry_snapshot) -> dict:
    """The demo certificates, registered when the test's clock starts; the clock then moves on an hour."""
    if registry_snapshot.keys is None:
        demo.load(store, demo_set[0], clock.now)
        registry_snapshot.keys = {key: redis_client.dump(key) for key in redis_client.keys("*")
                                  if not key.startswith(_NOT_REGISTRY)}
    else:
        pipe = redis_client.pipeline(transaction=False)
        for key, value in registry_snapshot.keys.items():
            pipe.restore(key, 0, value, replace=True)
        pipe.execute()
    clock.advance(hours=1)
    return demo_set[1]


def make_token(store, role: Role, region: str, name: str = "张三", clock: Clock | None = None, **kw: Any) -> str:
    now = clock.now if clock else START
    return store.create_token(region, now, role=role, name=name, expires_at=now + timedelta(days=180), **kw)[1]


@pytest.fixture
def inspector(store, clock) -> str:
    """An inspector of 辽宁 (21), where every demo certificate was issued."""
    return make_token(store, Role.INSPECTOR, "21", "张三", clock)


@pytest.fixture
def supervisor(store, clock) -> str:
    """A supervisor of 辽宁 (21)."""
    return make_token(store, Role.SUPERVISOR, "21", "李四", clock)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def jpeg(size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
    """A real JPEG (noise makes it big: JPEG cannot compress it)."""
    import os

    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)) if noise else Image.new("RGB", size,
                                                                                                     (200, 120, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def record(qr: str, clock: Clock, *, state: str = "valid", signature: str = "valid", mode: str = "offline",
           location: dict | None = None, photo: bytes | None = None, **extra: Any) -> dict[str, Any]:
    """An inspection record as a phone makes it, checked a minute before the clock's now."""
    out = {"id": str(uuid.uuid4()), "qr": qr,
           "checked_at": (clock.now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
           "shown": {"state": state, "signature": signature, "mode": mode, "data_age_s": 3600},
           "plate": {"record_no": "match", "factory_serial": "unchecked"}, "location": location, "note": "",
           "photo": base64.b64encode(photo).decode() if photo else None}
    out.update(extra)
    return out
