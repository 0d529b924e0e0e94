"""Helpers for tests against the real service: `crane-verify serve` under load, its workers, raw HTTP.

`LiveService` is tests.service.Service with its output read continuously: gunicorn logs one JSON line
per request, and a pipe nobody reads fills after a few hundred requests and blocks every worker. The
lines are kept, so a test can read what the service logged.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime

from keys.payload import issue
from keys.record import Record
from keys.samples import CITIES, sample_record
from tests.service import Service, process_tree
from verify_api import demo

SIGNED_AT = datetime(2025, 6, 1, 1, tzinfo=UTC)
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
