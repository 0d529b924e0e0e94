"""A write is acknowledged only once a replica has it (WAIT on the connection that wrote it).

A replica frozen with SIGSTOP stays connected in its master's eyes but acknowledges nothing, so a write
that was not copied must be refused, on the cluster and on a single master with one replica (the layout
behind Sentinel). A WAIT sent on some other connection could have counted the frozen replica: that is the
trap the store avoids (a pooled connection's WAIT covers only that connection's own last write), and
the first test shows it is real.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from devtools.cluster import LocalCluster
from tests.redis_fixtures import _binary
from verify_api import keyspace
from verify_api.redis_server import RedisServer
from verify_api.store import Outcome, Store, StoreUnavailable

from .records import NOW, qr, record

ACTOR = "issuer:210100:test"


@contextlib.contextmanager
def frozen(server: RedisServer) -> Iterator[None]:
    assert server.pid is not None
    os.killpg(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(server.pid, signal.SIGCONT)


def _replica_of(cluster: LocalCluster, master: RedisServer) -> RedisServer:
    with cluster.node_client(master) as client:
        port = int(client.info("replication")["slave0"]["port"])
    return next(n for n in cluster.nodes if n.port == port)


def test_cluster_write_is_refused_until_its_replica_has_it(local_cluster: LocalCluster) -> None:
    local_cluster.wait_ready(30)
    local_cluster.flushall()
    raw = record(1)
    reg = raw.registration_no
    master = local_cluster.master_of(keyspace.certificate(reg))
    store = Store(local_cluster.url, timeout=2.0, replicas=1, wait_ms=300)
    other = redis.Redis(port=master.port)
    probe = keyspace.certificate(reg) + ":probe"  # same slot, so the same master
    other.set(probe, "1")
    assert other.wait(1, 30_000) == 1   # the replica is copying (on a loaded machine "online" comes first)
    with frozen(_replica_of(local_cluster, master)):
        with pytest.raises(StoreUnavailable, match="not acknowledged"):
            store.register(raw, qr(raw), ACTOR, NOW)
        # the trap: WAIT on a connection whose own last write was copied says 1 although ours was not
        assert other.wait(1, 100) == 1
    other.delete(probe)
    assert other.wait(1, 30_000) == 1   # thawed and caught up, so the retry's short WAIT is a fair test
    other.close()
    # the caller retries: whatever was written before the refusal (the licence claim, perhaps the registration:
    # unacknowledged is not the same as lost) is taken up, the registration is there once and gets published
    change = store.register(raw, qr(raw), ACTOR, NOW)
    assert change.outcome in (Outcome.CREATED, Outcome.UNCHANGED)
    assert store.register(raw, qr(raw), ACTOR, NOW).outcome is Outcome.UNCHANGED
    assert [e.registration_no for e in store.feed()] == [reg]
    store.client.close()


def test_cluster_write_with_more_replicas_than_exist_is_never_acknowledged(local_cluster: LocalCluster) -> None:
    local_cluster.wait_ready(30)
    store = Store(local_cluster.url, timeout=2.0, replicas=2, wait_ms=100)
    with pytest.raises(StoreUnavailable, match="1 of 2 replicas"):
        store.create_token("210100", NOW)
    store.client.close()


@pytest.fixture
def master_with_replica(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    master = RedisServer(tmp_path / "master", tcp=True, binary=_binary(), extra_config=["repl-diskless-sync-delay 0"])
    replica: RedisServer | None = None
    try:
        master.start()
        replica = RedisServer(tmp_path / "replica", tcp=True, binary=_binary(),
                              extra_config=[f"replicaof 127.0.0.1 {master.port}"])
        replica.start()
        deadline = time.monotonic() + 30
        with master.client(decode_responses=True) as client:
            while client.info("replication").get("slave0", {}).get("state") != "online":
                assert time.monotonic() < deadline, "the replica never came online"
                time.sleep(0.02)
            # "online" can come before the replica has loaded the snapshot; on a loaded machine its first
            # acknowledgement then takes longer than the tests' short WAIT, so wait for one write to be copied
            client.set("crane:probe", "1")
            assert client.wait(1, 30_000) == 1, "the replica never acknowledged a write"
            client.delete("crane:probe")
        yield master, replica
    finally:
        for server in (replica, master):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop(timeout=5)


def test_single_master_write_is_refused_until_its_replica_has_it(master_with_replica) -> None:
    master, replica = master_with_replica
    store = Store(master.url, timeout=2.0, replicas=1, wait_ms=300)
    raw = record(2)
    assert store.register(raw, qr(raw), ACTOR, NOW).outcome is Outcome.CREATED
    other = record(3)
    with frozen(replica), pytest.raises(StoreUnavailable, match="not acknowledged"):
        store.register(other, qr(other), ACTOR, NOW)
    with master.client() as client:   # thawed and caught up, so the retry's short WAIT is a fair test
        client.set("crane:probe", "1")
        assert client.wait(1, 30_000) == 1
    # The refusal may come at the licence claim, before the registration is written, or after it: the
    # retry stores it once either way, and a further retry changes nothing.
    assert store.register(other, qr(other), ACTOR, NOW).outcome in (Outcome.CREATED, Outcome.UNCHANGED)
    assert store.register(other, qr(other), ACTOR, NOW).outcome is Outcome.UNCHANGED
    with replica.client(decode_responses=True) as client:  # what was acknowledged is on the replica
        assert client.hget(keyspace.certificate(raw.registration_no), "latest") == "1"
    store.client.close()
