"""Helpers for tests against the real service: `crane-verify serve` under load, its workers, raw HTTP.

`LiveService` is tests.service.Service with its output read continuously: gunicorn logs one JSON line
per request, and a pipe nobody reads fills after a few hundred requests and blocks every worker. The
lines are kept, so a test can read what the service logged.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from keys.payload import issue
from keys.record import Record
from keys.samples import CITIES, sample_record
from tests.service import Service
from verify_api import demo

SIGNED_AT = datetime(2025, 6, 1, 1, tzinfo=UTC)
BASE_URL = "https://verify.example.cn"


@dataclass
class LiveService(Service):
    _drain: threading.Thread | None = field(default=None, repr=False)

    def start(self, timeout: float = 60.0) -> LiveService:
        super().start(timeout)
        self._drain = threading.Thread(target=self._read_output, daemon=True)
        self._drain.start()
        return self

    def _read_output(self) -> None:
        try:
            for line in self.process.stdout:
                self.log.append(line)
        except (OSError, ValueError):
            pass

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self._drain:
            self._drain.join(5)
        if self.process and self.process.stdout:
            self.process.stdout.close()

    # --- processes ------------------------------------------------------------------------------------

    def gunicorn_master(self) -> int:
        children = _children().get(self.process.pid, [])
        assert len(children) == 1, f"expected one gunicorn master under {self.process.pid}: {children}"
        return children[0]

    def workers(self) -> list[int]:
        return sorted(_children().get(self.gunicorn_master(), []))

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


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


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
