"""kill -9 of redis-server while inspectors upload: no acknowledged record is lost, none is stored twice.

`crane-verify serve` (gunicorn) on a redis-server of the test's own (AOF, appendfsync always). Client
threads post batches of new records and, like a phone, post a batch again until it is acknowledged.
Mid-load the server is killed and started again on the same directory. Afterwards every acknowledged id
is stored, indexed and in the log once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from keys.record import Record
from tests.reliability.conftest import keys_dir, serve  # noqa: F401 - fixtures
from tests.reliability.live import bearer, signed_certificate
from verify_api import keyspace
from verify_api.store import Store
from verify_api.store.tokens import Role

CLIENTS = 4
BATCH = 20
KILLS = 2
BETWEEN_KILLS = 15      # acknowledged batches before each kill and after the last restart


@pytest.mark.slow
def test_acknowledged_records_survive_kill_9_of_redis(serve, fresh_redis_server, keys_dir):  # noqa: F811
    _, keys = keys_dir
    service = serve("--workers", "2")
    now = datetime.now(UTC)
    store = Store(fresh_redis_server.url, timeout=5.0)
    texts = []
    for n in range(5):
        raw, qr = signed_certificate(keys, 30000 + n)
        store.register(Record.from_json(raw), qr, "operator:test", now)
        texts.append(qr)
    token = store.create_token("2101", now, role=Role.INSPECTOR, name="张三", expires_at=now + timedelta(days=1))[1]
    store.client.close()

    acked: list[str] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        while not stop.is_set():
            checked_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            batch = [{"id": str(uuid.uuid4()), "qr": texts[i % len(texts)], "checked_at": checked_at,
                      "shown": {"state": "valid", "signature": "valid", "mode": "online"}} for i in range(BATCH)]
            while True:  # the same ids again until acknowledged: what a phone's queue does
                try:
                    status, _, body = service.json("POST", "/api/v1/inspections", {"inspections": batch},
                                                   bearer(token), timeout=15)
                except OSError:
                    status, body = 0, None
                with lock:
                    statuses[status] += 1
                if status == 200:
                    assert all(r["outcome"] in ("stored", "duplicate") for r in body["results"]), body
                    with lock:
                        acked.extend(r["id"] for r in batch)
                    break
                if stop.is_set():
                    return
                time.sleep(0.05)

    def acked_batches() -> int:
        with lock:
            return len(acked) // BATCH

    def more_batches() -> None:
        target = acked_batches() + BETWEEN_KILLS
        _wait_until(lambda: acked_batches() >= target, 120)  # generous: the machine may be busy

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client, n) for n in range(CLIENTS)]
        for _ in range(KILLS):
            more_batches()
            fresh_redis_server.kill()
            time.sleep(0.5)
            fresh_redis_server.start()
        more_batches()
        stop.set()
        for future in futures:
            future.result()

    assert set(statuses) <= {200, 503}, statuses  # refusals while Redis is down are 503, never a 500
    assert statuses[503] >= 1, "a kill did not hit the load"
    store = Store(fresh_redis_server.url, timeout=5.0)
    client_ = store.client
    logged = Counter(f["id"] for _, f in client_.xrange(keyspace.inspection_log("21"), "-", "+"))
    received = set(client_.zrange(keyspace.inspections_received("21"), 0, -1))
    lost = [i for i in acked if not client_.exists(keyspace.inspection("21", i)) or i not in received]
    assert not lost, f"{len(lost)} acknowledged records lost of {len(acked)}: {lost[:5]}"
    assert logged and max(logged.values()) == 1, "a record was logged twice"
    assert set(acked) <= set(logged)
    store.client.close()
    print(f"{len(acked)} acknowledged records, {dict(statuses)}")


def _wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the load made no progress"
        time.sleep(0.02)
