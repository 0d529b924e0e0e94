"""The phone app at /scan/ in a real headless Chromium with a fake camera, against `crane-verify serve --demo`.

Each launch is a persistent Chromium profile (the service worker, its cache and IndexedDB survive a relaunch,
as on a phone) whose fake camera shows one demo QR code from its own Y4M file. One service per test module,
stopped with its process group even when a test fails. Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keys.algorithms import PublicKey
from keys.answer import SignatureResult
from keys.payload import verify_at
from keys.trustlist import SignedTrustList
from tests import browser
from tests.browser import ARTIFACTS, CHROMIUM, PHONE
from tests.service import Service

from .fake_camera import camera_file

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [*browser.CHROMIUM_ARGS, "--use-fake-device-for-media-stream"]
# No --use-fake-ui-for-media-stream: the camera is granted through the context's permissions, as a script with
# only the fake-device flags would have it.
VERDICT_TIMEOUT_MS = 30_000

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                reason=f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="session")
def built_app() -> Path:
    """webapp/dist, built when an input changed (`make test` has done it already; then this is a no-op)."""
    node = shutil.which("node")
    if node is None or not (ROOT / "webapp" / "node_modules").is_dir():
        pytest.skip("the phone app needs node and `npm ci` in webapp/ (make test does both)")
    subprocess.run([node, "build.mjs"], cwd=ROOT / "webapp", check=True, capture_output=True, timeout=300)
    return ROOT / "webapp" / "dist"


@pytest.fixture(scope="session")
def playwright():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as runner:
        yield runner


def start_service(data_dir: Path, env: dict[str, str] | None = None) -> Service:
    return Service(data_dir, env=env or {}).start()


# Low enough that a test can reach it, high enough for every check the browser tests make in a minute.
RATE_LIMIT = "40/minute"


@pytest.fixture(scope="package")
def dist(built_app, tmp_path_factory) -> Path:
    """A copy of the built app that the shared service serves, so a test can publish a new version."""
    copy = tmp_path_factory.mktemp("scan-dist") / "dist"
    shutil.copytree(built_app, copy)
    return copy


@pytest.fixture(scope="package")
def service(dist, tmp_path_factory) -> Iterator[Service]:
    """One service for the online tests of this package (the offline tests stop their own)."""
    svc = start_service(tmp_path_factory.mktemp("scan-service") / "data",
                        {"CRANE_SCAN_DIST": str(dist), "CRANE_RATE_LIMIT": RATE_LIMIT})
    try:
        yield svc
    finally:
        svc.stop()


def by_state(manifest: dict, state: str) -> dict:
    """The first demo certificate in `state` that has a QR code (version 1 for corrected ones)."""
    return next(c for c in manifest["certificates"] if c["expected_status"] == state and c.get("qr_text")
                and c["version"] == 1)


def tampered(service: Service, text: str) -> str:
    """`text` with one character of its signature changed, such that the service's rules read `invalid`."""
    trust = SignedTrustList.loads((service.data_dir / "trust" / "trust.json").read_bytes()).verify(
        PublicKey.from_pem((service.data_dir / "trust" / "root.pub.pem").read_bytes()))
    now = datetime.now(UTC)
    for position in range(len(text) - 2, len(text) - 40, -1):
        changed = text[:position] + ("B" if text[position] == "A" else "A") + text[position + 1:]
        if verify_at(changed, trust, now).result is SignatureResult.INVALID:
            return changed
    raise AssertionError("no single-character change of the signature reads invalid")


class Phone:
    """One launch of Chromium on a persistent profile, its camera showing `code` (or the Y4M file `video`);
    records what went wrong."""

    def __init__(self, playwright, profile: Path, code: str | None, camera_dir: Path, video: Path | None = None,
                 args: tuple[str, ...] = ()):
        camera_dir.mkdir(parents=True, exist_ok=True)
        if video is None:
            video = camera_file(code, camera_dir / f"camera-{len(list(camera_dir.iterdir()))}.y4m")
        self.context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, permissions=["camera"],
            args=[*CHROMIUM_ARGS, *args, f"--use-file-for-fake-video-capture={video}"], **PHONE)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("console", self._console)

    def _console(self, message) -> None:
        # Failed requests while the service is down are expected offline; anything else is a finding.
        if message.type == "error" and "Failed to load resource" not in message.text \
                and "net::ERR" not in message.text:
            self.problems.append(f"console error: {message.text}")

    def open(self, url: str):
        response = self.page.goto(url + "/scan/", wait_until="load")
        self.page.evaluate("document.fonts.ready")
        return response

    def verdict(self) -> dict[str, str]:
        """The settled verdict's hooks, once #verdict says it is final."""
        self.page.wait_for_selector("#verdict[data-final=true]", timeout=VERDICT_TIMEOUT_MS)
        return self.page.locator("#verdict").evaluate("e => ({...e.dataset, word: e.querySelector('.word').textContent})")

    def offline_ready(self) -> None:
        self.page.wait_for_selector("html[data-offline-ready=true]", state="attached", timeout=VERDICT_TIMEOUT_MS)

    def shot(self, name: str, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def launch(playwright, tmp_path):
    """launch(code, profile=None) -> Phone; every phone is closed after the test."""
    opened: list[Phone] = []

    def make(code: str, profile: Path | None = None) -> Phone:
        phone = Phone(playwright, profile or tmp_path / "profile", code, tmp_path / "cameras")
        opened.append(phone)
        return phone

    yield make
    for phone in opened:
        phone.close()
