"""Helpers for tests against the real service: `crane-verify serve` under load, its workers, raw HTTP.

`LiveService` is tests.service.Service with its output read continuously: gunicorn logs one JSON line
per request, and a pipe nobody reads fills after a few hundred requests and blocks every worker. The
lines are kept, so a test can read what the service logged.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from keys.answer import State
from keys.payload import issue
from keys.record import Record
from keys.samples import CITIES, sample_record
from tests.service import Service, process_tree
from verify_api import demo
from verify_api.store import Store

SIGNED_AT = datetime(2025, 6, 1, 1, tzinfo=UTC)
CLIENTS = 8   # threads loading the service in `load`
BASE_URL = "https://verify.example.cn"


@dataclass
class LiveService(Service):
    # --- processes ------------------------------------------------------------------------------------

    def gunicorn_master(self) -> int:
        children = process_tree().get(self.process.pid, [])
        assert len(children) == 1, f"expected one gunicorn master under {self.process.pid}: {children}"
        return children[0]

    def workers(self) -> list[int]:
        return sorted(process_tree().get(self.gunicorn_master(), []))

    def wait_for_workers(self, count: int, exclude: set[int] = frozenset(), timeout: float = 20.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            workers = [w for w in self.workers() if w not in exclude]
            if len(workers) >= count:
                return workers
            time.sleep(0.05)
        raise AssertionError(f"gunicorn did not have {count} workers within {timeout}s: {self.workers()}")

    # --- HTTP -----------------------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        parts = urllib.parse.urlsplit(self.url)
        return parts.hostname, parts.port

    def json(self, method: str, path: str, body: dict | None = None, headers: dict[str, str] | None = None,
             timeout: float = 10.0) -> tuple[int, dict[str, str], dict | None]:
        """One request on a fresh connection; (status, headers, parsed JSON body or None)."""
        status, response_headers, raw = http_request(self.address, method, path, body, headers, timeout)
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        return status, response_headers, parsed

    def output(self) -> str:
        return "".join(self.log)


def http_request(address: tuple[str, int], method: str, path: str, body: dict | bytes | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """A request through http.client (no retries, no redirects); raises OSError on a transport failure."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    all_headers = {**({"Content-Type": "application/json"} if isinstance(body, dict) else {}), **(headers or {})}
    connection = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def raw_request(address: tuple[str, int], payload: bytes, timeout: float = 5.0) -> tuple[int, bytes, float]:
    """Send raw bytes, read until the server closes; (status code, whole response, seconds taken)."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=timeout) as sock:
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking everything: read what it said
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    response = b"".join(chunks)
    elapsed = time.monotonic() - started
    try:
        status = int(response.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    return status, response, elapsed


# --- certificates to register --------------------------------------------------------------------------

def signed_certificate(keys: demo.DemoKeys, index: int, city_index: int = 0,
                       signed_at: datetime = SIGNED_AT) -> tuple[dict, str]:
    """A record of the demo issuer `city_index` and its signed QR text (indexes 1000+ stay clear of the demo)."""
    city = CITIES[city_index]
    raw = sample_record(random.Random(index), index, city=city)
    record = Record.from_json(raw)
    return raw, issue(record, keys.issuers[city.code], BASE_URL, signed_at)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def quoted(registration_no: str) -> str:
    return urllib.parse.quote(registration_no, safe="")


# --- a certificate revoked while the service is under load ------------------------------------------------

@contextlib.contextmanager
def load(service: LiveService, qr_text: str) -> Iterator[list[tuple[float, int, str]]]:
    """CLIENTS threads verifying `qr_text` until the block ends: (started, HTTP status, state) per answer."""
    answers: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status, _, answer = service.json("POST", "/api/v1/verify", {"qr": qr_text}, timeout=10)
                state = answer["status"]["state"] if status == 200 else ""
            except (OSError, http.client.HTTPException) as exc:
                status, state = 0, type(exc).__name__
            answers.append((started, status, state))

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client) for _ in range(CLIENTS)]
        try:
            yield answers
        finally:
            stop.set()
            for future in futures:
                future.result()


def revoke_under_load(service: LiveService, redis_url: str, watch_s: float,
                      beside: Callable[[redis.Redis], None] | None = None) -> tuple[float, list]:
    """Revoke a valid demo certificate through a store of this process while CLIENTS verify it through
    `service` (serving the demo); `beside(admin)` runs every 50 ms meanwhile (a single server only).
    Returns when the revocation was acknowledged, and every answer."""
    cert = next(c for c in service.manifest()["certificates"]
                if c["expected_status"] == "valid" and c.get("qr_text"))
    store = Store(redis_url, timeout=5.0)
    done = threading.Event()

    def keep_doing(admin: redis.Redis) -> None:
        while not done.wait(0.05):
            beside(admin)

    with contextlib.ExitStack() as stack:
        answers = stack.enter_context(load(service, cert["qr_text"]))
        time.sleep(1.5)   # every worker has answered, and holds the status
        side = None
        if beside:
            admin = stack.enter_context(redis.Redis.from_url(redis_url, decode_responses=True))
            side = threading.Thread(target=keep_doing, args=(admin,))
        if side:
            side.start()
        try:
            change = store.change_status(cert["registration_no"], State.REVOKED, "测试", "operator:test",
                                         datetime.now(UTC), None)
            revoked_at = time.monotonic()
            assert change.outcome.value == "changed", change
            time.sleep(watch_s)
        finally:
            done.set()
            if side:
                side.join()
    store.client.close()
    return revoked_at, answers


def assert_turned_at_once(revoked_at: float, answers: list[tuple[float, int, str]], workers: int) -> None:
    """Valid before the revocation, revoked in every answer asked half a second after it (the margin is for a
    loaded machine's scheduler; the service's bound is far longer, so only invalidations explain it)."""
    before = [a for a in answers if a[0] < revoked_at - 0.2]
    after = [a for a in answers if a[0] > revoked_at + 0.5]
    assert before and all(a[1:] == (200, "valid") for a in before), [a for a in before if a[1:] != (200, "valid")][:3]
    assert len(after) >= 30, f"too few answers after the revocation to speak for {workers} workers: {len(after)}"
    stale = [a for a in after if a[1:] != (200, "revoked")]
    assert not stale, f"{len(stale)} answers after the revocation were not revoked: {stale[:3]}"


def tracking_connections(client: redis.Redis) -> list[str]:
    """The ids of the clients of a Redis node that track keys: the status cache's invalidation connections."""
    return [c["id"] for c in client.client_list() if "t" in c.get("flags", "")]
