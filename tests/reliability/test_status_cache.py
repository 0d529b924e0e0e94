"""The per-worker status cache (CLIENT TRACKING, verify_api/store/status_cache.py) under load.

`crane-verify serve --demo --workers 3` on a redis-server of the test's own. CLIENTS threads verify one valid
demo QR again and again on fresh connections, so every worker holds its status; then the certificate is
revoked through a store of this process (another Redis client than the service's). The rule: no answer is
`valid` for a certificate revoked longer ago than the bound. With a long bound, answers turning at once show
the invalidations at work; with the invalidation connections killed over and over, the bound still holds.
(The same on Redis Cluster: tests/cluster/test_status_cache_cluster.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from datetime import UTC, datetime

import pytest
import redis

from keys.answer import State
from tests.redis_fixtures import _binary
from verify_api import demo, keyspace
from verify_api.redis_server import RedisServer
from verify_api.store import Store
from verify_api.store.status_cache import StatusCache, nodes_of

from .live import assert_turned_at_once, revoke_under_load, tracking_connections

WORKERS = 3


@pytest.mark.slow
def test_a_revocation_reaches_every_worker_at_once_through_the_invalidations(serve, fresh_redis_server):
    # a bound of a minute: only the invalidations can turn the answers in time
    service = serve("--demo", "--workers", str(WORKERS), CRANE_STATUS_CACHE_S="60")
    service.wait_for_workers(WORKERS)
    revoked_at, answers = revoke_under_load(service, fresh_redis_server.url, watch_s=2.0)
    with fresh_redis_server.client() as client:   # the cache was on: each worker has its connection
        assert len(tracking_connections(client)) >= WORKERS, client.client_list()
    assert_turned_at_once(revoked_at, answers, WORKERS)


@pytest.mark.slow
def test_killing_the_invalidation_connections_again_and_again_keeps_the_bound(serve, fresh_redis_server):
    kills: list[int] = []

    def kill_tracking(admin: redis.Redis) -> None:
        for client_id in tracking_connections(admin):
            with contextlib.suppress(redis.ResponseError):   # already gone
                admin.client_kill_filter(_id=client_id)
                kills.append(1)

    bound = 1.0
    service = serve("--demo", "--workers", str(WORKERS), CRANE_STATUS_CACHE_S=str(bound))
    service.wait_for_workers(WORKERS)
    revoked_at, answers = revoke_under_load(service, fresh_redis_server.url, watch_s=bound + 1.0, beside=kill_tracking)
    assert len(kills) >= WORKERS, kills
    late = [a for a in answers if a[0] > revoked_at + bound]
    assert late and all(a[1:] == (200, "revoked") for a in late), [a for a in late if a[1:] != (200, "revoked")][:3]
    assert all(a[1] == 200 for a in answers), "a killed invalidation connection cost an answer"


def test_a_value_read_while_an_invalidation_is_in_flight_is_not_kept(redis_url):
    cache = _live_cache(redis_url)
    key = keyspace.version("辽A-SY-2025-00001", 1)
    token = cache.token()                 # the read is sent ...
    cache.invalidate([key])               # ... Redis says the key changed before its reply is stored
    cache.put(key, token, "the old status")
    assert cache.get(key) is None
    cache.put(key, cache.token(), "read afresh")
    assert cache.get(key) == "read afresh"


def test_an_entry_is_used_no_longer_than_the_bound(redis_url):
    now = [1000.0]
    cache = _live_cache(redis_url, clock=lambda: now[0])
    key = keyspace.version("辽A-SY-2025-00001", 1)
    cache.put(key, cache.token(), "valid")
    now[0] += 0.99
    assert cache.get(key) == "valid"
    now[0] += 0.02
    assert cache.get(key) is None


@pytest.mark.parametrize("over", ["unix socket", "tcp"])
def test_a_write_to_the_key_elsewhere_empties_the_entry(over, redis_url, tmp_path):
    with contextlib.ExitStack() as stack:
        if over == "tcp":
            redis_url = stack.enter_context(RedisServer(tmp_path / "redis", tcp=True, binary=_binary())).url
        cache = _live_cache(redis_url)
        key = keyspace.version("辽A-SY-2025-00001", 1)
        cache.put(key, cache.token(), "valid")
        with redis.Redis.from_url(redis_url) as other:
            other.hset(key, "state", "revoked")
        _gone(cache, key)


def _gone(cache: StatusCache[str], key: str) -> None:
    deadline = time.monotonic() + 2
    while cache.get(key) is not None:
        assert time.monotonic() < deadline, "no invalidation arrived"
        time.sleep(0.001)


def test_a_frozen_server_turns_the_cache_off_within_the_heartbeat(fresh_redis_server):
    cache = _live_cache(fresh_redis_server.url)
    key = keyspace.version("辽A-SY-2025-00001", 1)
    cache.put(key, cache.token(), "valid")
    os.kill(fresh_redis_server.pid, signal.SIGSTOP)   # silent: no end of file, no error
    try:
        stopped = time.monotonic()
        while cache.live:
            assert time.monotonic() - stopped < 2, "the heartbeat did not notice the silent server"
            time.sleep(0.01)
        assert cache.get(key) is None
    finally:
        os.kill(fresh_redis_server.pid, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while not cache.live:   # back once the server answers again
        assert time.monotonic() < deadline, "the cache did not come back"
        time.sleep(0.05)


def _live_cache(url: str, **options) -> StatusCache[str]:
    client = redis.Redis.from_url(url, decode_responses=True)
    cache: StatusCache[str] = StatusCache(nodes_of(client), bound_s=1.0, **options)
    cache.get("start")
    deadline = time.monotonic() + 5
    while not cache.live:
        assert time.monotonic() < deadline, "the invalidation connection never came up"
        time.sleep(0.01)
    return cache


def test_a_process_reads_its_own_writes_at_once(redis_url, tmp_path):
    # a bound of a minute, and no time for the invalidation to arrive: the write itself empties the cache
    store = Store(redis_url, status_bound_s=60)
    manifest, _ = demo.build(store, tmp_path / "data", "https://verify.example.cn", datetime.now(UTC))
    cert = next(c for c in json.loads(manifest.read_text("utf-8"))["certificates"]
                if c["expected_status"] == "valid" and c.get("qr_text"))
    number, version = cert["registration_no"], cert["version"]
    deadline = time.monotonic() + 5
    while store.get_version(number, version) is not None and store._status.get(keyspace.version(number, version)) is None:
        assert time.monotonic() < deadline, "the status was never cached"
        time.sleep(0.01)
    for state in (State.SUSPENDED, State.VALID, State.REVOKED):
        store.change_status(number, state, "测试", "operator:test", datetime.now(UTC), None)
        assert store.get_version(number, version).state is state
