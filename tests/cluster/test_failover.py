"""Kill a master under a write load: every change the store acknowledged is there after the failover.

Two writers register certificates and change their status through Store (CRANE_REDIS_REPLICAS=1, as the
service runs). The master serving the status feed, which every write touches, is SIGKILLed mid-load;
its replica takes over after cluster-node-timeout; the dead node is started again and rejoins as a replica
(until then the promoted master has no replica, so WAIT refuses its writes: nothing is acknowledged that
only one copy holds). A writer retries what was not acknowledged, as the issuer API's clients do.
Then every acknowledged change is read back, from the registry and from the feed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest

from devtools.cluster import LocalCluster
from keys.answer import State
from keys.record import Record
from verify_api import keyspace
from verify_api.store import Outcome, Store, StoreUnavailable

from .conftest import NODE_TIMEOUT_MS
from .records import NOW, qr, record


@dataclass
class Writer:
    """Registers certificates and toggles their status; retries each change until it is acknowledged."""

    url: str
    first: int
    stop: threading.Event
    expected: dict[str, State] = field(default_factory=dict)
    acked: list[tuple[float, str]] = field(default_factory=list)  # (time, kind) of every acknowledged change
    refused: list[float] = field(default_factory=list)  # times of StoreUnavailable answers
    error: BaseException | None = None

    def run(self) -> None:
        store = Store(self.url, timeout=1.0, replicas=1)
        try:
            index = self.first
            while not self.stop.is_set():
                raw = record(index, city=index % 3)
                self._until_acked(lambda raw=raw: self._register(store, raw))
                self.expected[raw.registration_no] = State.VALID
                if index % 2:
                    # toggle an earlier one: valid -> suspended -> valid ...
                    reg = list(self.expected)[(index // 2) % len(self.expected)]
                    target = State.SUSPENDED if self.expected[reg] is State.VALID else State.VALID
                    self._until_acked(lambda reg=reg, target=target: self._status(store, reg, target))
                    self.expected[reg] = target
                index += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            store.client.close()

    def _until_acked(self, attempt) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                kind = attempt()
                self.acked.append((time.monotonic(), kind))
                return
            except StoreUnavailable:
                self.refused.append(time.monotonic())
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @staticmethod
    def _register(store: Store, raw: Record) -> str:
        change = store.register(raw, qr(raw), "issuer:load:test", NOW)
        assert change.outcome in (Outcome.CREATED, Outcome.UNCHANGED), change
        return "register"

    @staticmethod
    def _status(store: Store, reg: str, target: State) -> str:
        issuer = {"辽A": "210100", "辽B": "210200", "辽C": "210300"}[reg[:2]]
        change = store.change_status(reg, target, "load", f"issuer:{issuer}:test", NOW, issuer=issuer)
        # REFUSED from the target state: an earlier, unacknowledged attempt did commit
        assert change.outcome is Outcome.CHANGED or (change.outcome is Outcome.REFUSED
                                                     and change.before is target), change
        return "status"


def test_killing_a_master_under_write_load_loses_no_acknowledged_change(fresh_cluster: LocalCluster) -> None:
    cluster = fresh_cluster
    stop = threading.Event()
    writers = [Writer(cluster.url, 10_000, stop), Writer(cluster.url, 500_000, stop)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in writers]
    for thread in threads:
        thread.start()

    def acked() -> int:
        return sum(len(w.acked) for w in writers)

    try:
        _wait_for(lambda: acked() >= 150, 30, "the writers never got going")
        victim = cluster.master_of(keyspace.feed())
        killed_at = cluster.kill(victim)
        promoted = cluster.wait_failover(victim, timeout=30)
        failover_s = time.monotonic() - killed_at
        # the promoted master has no replica now: nothing that touches its shard is acknowledged
        lonely = Store(cluster.url, timeout=1.0, replicas=1)
        with pytest.raises(StoreUnavailable, match="0 of 1 replicas"):
            lonely.register(record(900_000), qr(record(900_000)), "issuer:load:test", NOW)
        lonely.client.close()
        cluster.restart(victim)
        cluster.wait_ready(30)
        rejoined_at = time.monotonic()
        after = acked()
        _wait_for(lambda: acked() >= after + 150, 30, "no writes acknowledged after the failover")
    finally:
        stop.set()
        for thread in threads:
            thread.join(70)
    for writer in writers:
        assert writer.error is None, repr(writer.error)

    expected = {reg: state for w in writers for reg, state in w.expected.items()}
    times = [t for w in writers for t, _ in w.acked]
    refused = [t for w in writers for t in w.refused]
    phases = Counter("before kill" if t < killed_at else "kill..rejoin" if t < rejoined_at else "after rejoin"
                     for t in times)
    kinds = Counter(kind for w in writers for _, kind in w.acked)
    print(f"\nfailover after SIGKILL: {failover_s:.2f}s (cluster-node-timeout {NODE_TIMEOUT_MS} ms); "
          f"node {victim.port} -> {promoted.port}; acknowledged {dict(kinds)} by phase {dict(phases)}; "
          f"StoreUnavailable answers (then retried) {len(refused)}; certificates {len(expected)}")
    assert refused, "the kill did not hit the write load"
    assert role_of(cluster, victim) == "slave" and role_of(cluster, promoted) == "master"

    store = Store(cluster.url, timeout=2.0)
    missing = [reg for reg in expected if store.get(reg) is None]
    wrong = [(reg, store.get(reg).state, state) for reg, state in expected.items()
             if reg not in missing and store.get(reg).state is not state]
    assert not missing and not wrong, (missing[:5], wrong[:5])
    last_in_feed: dict[str, State] = {}
    for entry in store.feed(count=1_000_000):
        last_in_feed[entry.registration_no] = entry.state
    assert {reg: last_in_feed.get(reg) for reg in expected} == expected
    audit = Counter(e.action for e in store.audit(count=1_000_000))
    assert audit["register"] >= kinds["register"] and audit["status"] >= kinds["status"]
    store.client.close()


def role_of(cluster: LocalCluster, node) -> str:
    return cluster.role(node)


def _wait_for(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)
