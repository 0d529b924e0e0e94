"""The scanner against the real service: `crane-verify serve --demo` as a subprocess, real HTTP, real images.

One service for the whole session, in its own process group, torn down (with the gunicorn and
redis-server processes it started) even when a test fails. Photos of the demo certificates are made
once per session (tests/scanner/photos.py); a data directory synced from the service is shared by
the tests that only read it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from keys.cli_env import Environment, ExitStatus
from scanner.cli import main
from scanner.offline import OfflineCache, OfflineData
from scanner.pin import PinStore
from tests.scanner import photos
from tests.service import process_tree

START_TIMEOUT = 90
_NO_HOME = Path("/nonexistent/crane-scan-test-home")  # a test that forgets its directories fails instead of using ~
STOP_TIMEOUT = 20


def _crane_verify() -> str:
    beside = Path(sys.executable).with_name("crane-verify")
    if beside.exists():
        return str(beside)
    found = shutil.which("crane-verify")
    if not found:
        pytest.fail("the crane-verify console script is not installed (pip install -e .)")
    return found


def descendants(pid: int) -> list[int]:
    tree, out, stack = process_tree(), [], [pid]
    while stack:
        for child in tree.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Service:
    url: str
    data_dir: Path
    manifest: dict[str, Any]
    log: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def root_pub(self) -> str:
        return self.manifest["root_pub"]

    def certificates(self, state: str | None = None, *, with_qr: bool = True) -> list[dict[str, Any]]:
        return [c for c in self.manifest["certificates"]
                if (state is None or c["expected_status"] == state) and (c.get("qr_text") or not with_qr)]


def _stop(process: subprocess.Popen, started: list[int]) -> None:
    """SIGTERM to the serve command's group (it stops gunicorn and its redis-server), then SIGKILL what is left."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(5)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in started:  # only processes this service started: gunicorn (own session) and redis-server
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`crane-verify serve --demo --port 0` in its own process group, ready (GET /readyz is 200)."""
    data_dir = tmp_path_factory.mktemp("svc")
    log = data_dir / "serve.log"
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "CRANE_PUBLIC_URL", "CRANE_DATA_DIR", "CRANE_ROOT_PUB")}
    env["CRANE_RATE_LIMIT"] = "off"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_crane_verify(), "serve", "--demo", "--port", "0", "--workers", "2", "--data-dir", str(data_dir)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    started: list[int] = []
    try:
        url = _wait_serving(process, log)
        _wait_ready(process, url, log)
        started = descendants(process.pid)
        manifest = json.loads((data_dir / "demo" / "manifest.json").read_text("utf-8"))
        yield Service(url, data_dir, manifest, log, process)
    finally:
        started = sorted(set(started) | set(descendants(process.pid)))
        _stop(process, started)


def _wait_serving(process: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for line in log.read_text("utf-8", "replace").splitlines():
            if line.startswith("serving on "):
                return line.split()[2]
        if process.poll() is not None:
            pytest.fail(f"crane-verify serve exited with {process.returncode}:\n{log.read_text('utf-8', 'replace')}")
        time.sleep(0.1)
    pytest.fail(f"crane-verify serve did not start within {START_TIMEOUT} s:\n{log.read_text('utf-8', 'replace')}")


def _wait_ready(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as resp:  # noqa: S310 - our own http URL
                if resp.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            pytest.fail(f"crane-verify serve exited with {process.returncode}:\n{log.read_text('utf-8', 'replace')}")
        time.sleep(0.2)
    pytest.fail(f"{url}/readyz did not answer 200 within {START_TIMEOUT} s:\n{log.read_text('utf-8', 'replace')}")


# --- running the CLI in-process ------------------------------------------------------------------------

@dataclass
class Ran:
    status: ExitStatus
    out: str
    err: str

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def crane_scan(args: list[str], data_dir: Path | None = None, now: datetime | None = None,
               env_vars: dict[str, str] | None = None) -> Ran:
    """`crane-scan ARGS` through main(args, env) with StringIO streams and, if given, a fixed clock."""
    stdout, stderr = io.StringIO(), io.StringIO()
    env_vars = dict(env_vars or {})
    if data_dir is not None:
        env_vars.setdefault("CRANE_DATA_DIR", str(data_dir))
        # The root pin lives in the user's configuration: one per test's data directory, never the real ~/.config.
        env_vars.setdefault("XDG_CONFIG_HOME", str(data_dir / "config"))
    env_vars.setdefault("HOME", str(_NO_HOME))
    env = Environment(stdout=stdout, stderr=stderr, vars=env_vars, stdout_isatty=False,
                      now=(lambda: now) if now is not None else (lambda: datetime.now(UTC)))
    status = main(args, env)
    return Ran(status, stdout.getvalue(), stderr.getvalue())


def offline_data(data_dir: Path) -> OfflineData:
    """The offline data of a data directory synced by crane_scan, loaded and checked as a scan does."""
    return OfflineCache.in_data_dir(data_dir).load(pins(data_dir).current())


def pins(data_dir: Path) -> PinStore:
    return PinStore(data_dir / "config" / "crane-scan", data_dir)


@pytest.fixture(scope="session")
def synced(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory synced from the service once; tests that only read the cache share it."""
    data_dir = tmp_path_factory.mktemp("synced")
    ran = crane_scan(["sync", "--server", service.url, "--root-pub", service.root_pub], data_dir)
    assert ran.status == ExitStatus.OK, ran.err
    return data_dir


# --- photos ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Photo:
    path: Path
    text: str
    expected: str          # the registry state the manifest promises, or "" for codes not ours
    entry: dict[str, Any]


# Two of every state the demo covers (a corrected certificate's first version is `superseded`).
PHOTO_STATES = ("valid", "ended", "superseded", "revoked", "suspended")


@pytest.fixture(scope="session")
def site_photos(service: Service, tmp_path_factory: pytest.TempPathFactory) -> list[Photo]:
    folder = tmp_path_factory.mktemp("photos")
    out = []
    for state in PHOTO_STATES:
        for n, entry in enumerate(service.certificates(state)[:2]):
            seed = 100 * PHOTO_STATES.index(state) + n
            path, _ = photos.save(folder / f"{state}-{n}.jpg", [photos.qr_grey(png=entry["qr_png"])], seed)
            out.append(Photo(path, entry["qr_text"], state, entry))
    return out


def make_photo(path: Path, texts: list[str], seed: int, shot: photos.Shot | None = None) -> Path:
    """A photo of QR codes rendered from `texts` (segno)."""
    return photos.save(path, [photos.qr_grey(text=t) for t in texts], seed, shot or photos.Shot())[0]
