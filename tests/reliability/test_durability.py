"""kill -9 of redis-server under a write load through the issuer API: no acknowledged change is lost.

The service is `crane-verify serve` (gunicorn) with REDIS_URL at a redis-server of the test's own
(AOF, appendfsync always). Client threads register certificates and change their status; every
answer is written down. Mid-load the redis-server's process group gets SIGKILL, and it is started
again on the same directory while the load goes on. Afterwards every change the API acknowledged
(a 2xx) must be in the registry, its history, the status feed and the audit stream. Changes that
were not acknowledged may or may not be there.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from verify_api.store import Store

from .conftest import make_token
from .live import bearer, quoted, signed_certificate

CLIENTS = 6
CERTIFICATES = 1500          # more than the load can use up; each is registered, then changed up to 4 times
KILLS = 3                    # redis-server is killed this many times during the load
BETWEEN_KILLS = 150          # acknowledged changes before each kill, and after the last restart
DOWN_FOR = 1.0               # seconds it stays dead each time


@dataclass(frozen=True)
class Attempt:
    kind: str                # register | status
    registration_no: str
    reason: str              # the status change's unique reason ("" for a registration)
    target: str
    status: int              # HTTP status, 0 for a transport failure
    at: float

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.status < 300


class Ledger:
    def __init__(self):
        self._lock = threading.Lock()
        self.attempts: list[Attempt] = []

    def add(self, attempt: Attempt) -> None:
        with self._lock:
            self.attempts.append(attempt)

    def acknowledged(self, after: float = 0.0) -> int:
        with self._lock:
            return sum(1 for a in self.attempts if a.acknowledged and a.at > after)


@pytest.mark.slow
def test_acknowledged_changes_survive_kill_9_of_redis(serve, fresh_redis_server, keys_dir):
    _, keys = keys_dir
    service = serve("--workers", "2")
    _, token = make_token(fresh_redis_server)
    items = [signed_certificate(keys, 20000 + i) for i in range(CERTIFICATES)]
    ledger = Ledger()
    stop = threading.Event()

    def client(number: int) -> None:
        for raw, qr in items[number::CLIENTS]:
            if stop.is_set():
                return
            reg = raw["registration_no"]
            while True:  # a registration is idempotent: retried until acknowledged (201, or 200 unchanged)
                status = _call(service, "POST", "/api/v1/issuer/certificates", {"record": raw, "qr_text": qr},
                               token)
                ledger.add(Attempt("register", reg, "", "valid", status, time.monotonic()))
                if 200 <= status < 300 or stop.is_set():
                    break
                time.sleep(0.05)
            if not 200 <= status < 300:
                return
            for step, target in enumerate(("suspended", "valid", "suspended", "valid")):
                if stop.is_set():
                    return
                reason = f"durability c{number} {reg} step {step}"
                status = _call(service, "POST", f"/api/v1/issuer/certificates/{quoted(reg)}/status",
                               {"state": target, "reason": reason}, token)
                ledger.add(Attempt("status", reg, reason, target, status, time.monotonic()))
                if not 200 <= status < 300:
                    time.sleep(0.05)
                    break  # whether it took effect is unknown: on to the next certificate

    outages: list[tuple[float, float]] = []
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client, n) for n in range(CLIENTS)]
        since = 0.0
        for _ in range(KILLS):
            _wait_until(lambda since=since: ledger.acknowledged(after=since) >= BETWEEN_KILLS, 60,
                        lambda: f"too few acknowledged changes: {Counter(a.status for a in ledger.attempts)}")
            fresh_redis_server.kill()
            killed_at = time.monotonic()
            time.sleep(DOWN_FOR)
            fresh_redis_server.start()
            since = time.monotonic()
            outages.append((killed_at, since))
        _wait_until(lambda: ledger.acknowledged(after=since) >= BETWEEN_KILLS, 60,
                    lambda: f"no acknowledged change after the last restart: {Counter(a.status for a in ledger.attempts)}")
        stop.set()
        for future in futures:
            future.result()

    attempts = ledger.attempts
    statuses = Counter(a.status for a in attempts)
    # Refusals while the store is down are 503s; anything else (a 500, a dropped connection) is a defect.
    assert set(statuses) <= {200, 201, 503}, statuses
    for killed_at, restarted_at in outages:
        during = [a for a in attempts if killed_at <= a.at <= restarted_at]
        assert any(a.status == 503 for a in during), "a kill did not hit the load"

    acked = [a for a in attempts if a.acknowledged]
    store = Store(fresh_redis_server.url, timeout=5.0)
    feed = Counter((e.registration_no, e.state.value) for e in store.feed(count=100_000))
    audit = Counter((e.registration_no, e.action) for e in store.audit(count=100_000))
    lost = []
    checked = Counter()
    registered = {a.registration_no for a in acked if a.kind == "register"}
    by_qr = {raw["registration_no"]: qr for raw, qr in items}
    for reg in registered:
        stored = store.get(reg)
        if stored is None or stored.qr_text != by_qr[reg]:
            lost.append(("register", reg))
            continue
        history = store.history(reg)
        reasons = [event.get("reason") for event in history]
        mine = [a for a in acked if a.registration_no == reg and a.kind == "status"]
        positions = [reasons.index(a.reason) if a.reason in reasons else -1 for a in mine]
        lost += [("status", a.reason) for a, p in zip(mine, positions, strict=True) if p < 0]
        assert positions == sorted(positions), f"{reg}: acknowledged changes out of order in {history}"
        # the current state is the last change in the history, acknowledged or not
        assert stored.state.value == history[-1]["after"], (reg, stored.state, history)
        checked["register"] += 1
        checked["status"] += len(mine)
        for a in mine:
            # a status change was acknowledged only after its feed and audit entries were written
            assert feed[(reg, a.target)] >= 1 and audit[(reg, "status")] >= 1, (reg, a)
        assert feed[(reg, "valid")] >= 1 and audit[(reg, "register")] >= 1, reg
    store.client.close()

    summary = (f"{len(acked)} acknowledged of {len(attempts)} attempts ({dict(statuses)}); "
               f"checked {dict(checked)}; {KILLS} kills, down {sum(b - a for a, b in outages):.2f}s in all")
    assert not lost, f"acknowledged changes lost after kill -9: {lost[:10]} ... ({summary})"
    assert checked["register"] + checked["status"] == len(acked), summary
    assert len(acked) >= (KILLS + 1) * BETWEEN_KILLS, summary
    print(summary)


def _call(service, method: str, path: str, body: dict, token: str) -> int:
    try:
        status, _, _ = service.json(method, path, body, bearer(token), timeout=15)
    except (OSError, http.client.HTTPException):
        return 0
    return status


def _wait_until(condition, timeout: float, message) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message())
        time.sleep(0.02)
