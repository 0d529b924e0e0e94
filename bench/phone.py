"""The phone app (/scan/) in headless Chromium on this machine, each figure beside its baseline from the same run.

- page load to camera ready (first frame decoded), a first visit and a visit served by the service worker;
- decode per 1280x720 camera frame (grab, hand to the worker, decode, answer), median, beside zxing-wasm's own
  readBarcodes time on the same frames (measured inside the worker);
- verification per algorithm (the JavaScript core's verifyAt on the shared vectors) beside keys.payload.verify_at;
- sync of 100,000 feed entries into IndexedDB (20 signed pages of 5,000, each verified and folded), seconds and
  storage, beside plain IndexedDB writes of the same number of rows.

The service is the real `crane-verify serve --demo`; the 100,000 entries are pages signed with its feed key and
handed to the page by Playwright's router, so the figure is the phone's work, not the service's.
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from keys.algorithms import PrivateKey, PublicKey
from keys.feed import sign_page
from keys.payload import verify_at
from keys.trustlist import SignedTrustList
from tests.service import Service
from tests.webapp.fake_camera import camera_file

ROOT = Path(__file__).resolve().parents[1]
WEBAPP = ROOT / "webapp"
VECTORS = ROOT / "docs" / "test-vectors"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN"}
SYNC_ENTRIES, SYNC_PAGE = 100_000, 5_000
LOADS = 3
FRAME_SECONDS = 8
VERIFY_RUNS = 200


def launch(playwright, profile: Path, video: Path, **options):
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, permissions=["camera"],
        args=[*ARGS, f"--use-file-for-fake-video-capture={video}"], **PHONE, **options)


def camera_ready_ms(page) -> float:
    page.wait_for_selector("#verdict[data-final=true]", timeout=60_000)
    return page.evaluate("performance.getEntriesByName('scan:camera-ready')[0].startTime")


def page_load(playwright, url: str, work: Path, code: str) -> dict[str, list[float]]:
    video = camera_file(code, work / "load.y4m")
    cold, warm = [], []
    for run in range(LOADS):
        context = launch(playwright, work / f"load-{run}", video)
        page = context.pages[0]
        page.goto(url + "/scan/")
        cold.append(camera_ready_ms(page))
        page.wait_for_selector("html[data-offline-ready=true]", state="attached", timeout=60_000)
        for _ in range(1 if run < LOADS - 1 else LOADS):
            page.reload()
            warm.append(camera_ready_ms(page))
        context.close()
    return {"cold": cold, "warm": warm}


def frames(playwright, url: str, work: Path, code: str) -> dict[str, float]:
    """Decoding goes on after a verdict (the code answered is not announced again): every frame has the code."""
    context = launch(playwright, work / "frames", camera_file(code, work / "frames.y4m"))
    page = context.pages[0]
    page.goto(url + "/scan/")
    page.wait_for_selector("#verdict[data-final=true]", timeout=60_000)
    page.locator("#scan-next").click()
    page.evaluate("performance.clearMeasures('scan:frame')")
    page.wait_for_timeout(FRAME_SECONDS * 1000)
    measures = page.evaluate("performance.getEntriesByName('scan:frame').map(m => [m.duration, m.detail.decodeMs, "
                             "m.detail.width, m.detail.height])")
    context.close()
    return {"frames": len(measures), "size": f"{measures[0][2]}x{measures[0][3]}",
            "ours": statistics.median(m[0] for m in measures), "zxing": statistics.median(m[1] for m in measures)}


def core_bundle() -> str:
    """The verification core alone as one module exposing globalThis.core (dynamic imports inlined)."""
    return subprocess.run(
        ["node_modules/.bin/esbuild", "--bundle", "--format=esm", "--minify", "--target=chrome100",
         "--log-level=warning"],
        input='import * as core from "./src/core/index.js"; globalThis.core = core;', cwd=WEBAPP, text=True,
        capture_output=True, check=True).stdout


VERIFY_JS = """async ({trustDoc, root, vectors, runs}) => {
  const trust = await core.loadTrustList(trustDoc, root);
  const out = {};
  for (const v of vectors) {
    const now = Date.parse(v.verify_at);
    const first = await core.verifyAt(v.qr_text, trust, now);  // keys imported once, as the app keeps them
    const times = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await core.verifyAt(v.qr_text, trust, now);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    out[v.name] = {result: first.result, ms: times[times.length >> 1]};
  }
  return out;
}"""


def verification(playwright, url: str, work: Path) -> dict[str, dict[str, float | str]]:
    names = {"EdDSA": "valid-ed25519.json", "ES256": "valid-es256.json", "SM2": "valid-sm2.json"}
    vectors = {alg: json.loads((VECTORS / name).read_text("utf-8")) for alg, name in names.items()}
    trust_doc = (VECTORS / "trust-list.json").read_text("utf-8")
    root = vectors["EdDSA"]["root_public_key"]
    context = launch(playwright, work / "verify", camera_file("BENCH", work / "verify.y4m"))
    page = context.pages[0]
    script = core_bundle()
    page.route(url + "/bench-core", lambda route: route.fulfill(
        status=200, content_type="text/html",
        body=f"<!doctype html><script type=module>{script}\nwindow.ready = true;</script>"))
    page.goto(url + "/bench-core")
    page.wait_for_function("window.ready === true")
    browser = page.evaluate(VERIFY_JS, {"trustDoc": trust_doc, "root": root, "runs": VERIFY_RUNS, "vectors": [
        {"name": alg, "qr_text": v["qr_text"], "verify_at": v["verify_at"]} for alg, v in vectors.items()]})
    context.close()
    trust = SignedTrustList.loads(trust_doc.encode()).verify(PublicKey.from_spki(base64.b64decode(root)))
    out = {}
    for alg, vector in vectors.items():
        now = datetime.fromisoformat(vector["verify_at"])
        assert verify_at(vector["qr_text"], trust, now).result.value == browser[alg]["result"] == "valid"
        times = []
        for _ in range(VERIFY_RUNS):
            started = time.perf_counter()
            verify_at(vector["qr_text"], trust, now)
            times.append((time.perf_counter() - started) * 1000)
        out[alg] = {"browser": browser[alg]["ms"], "python": statistics.median(times)}
    return out


def feed_pages(feed_key: PrivateKey) -> dict[str, str]:
    """SYNC_ENTRIES entries in signed pages, keyed by the cursor each answers."""
    start_ms = int((datetime.now(UTC) - timedelta(hours=1)).timestamp() * 1000)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    pages, since = {}, "0"
    for first in range(0, SYNC_ENTRIES, SYNC_PAGE):
        entries = [{"cursor": f"{start_ms + i}-0", "registration_no": f"辽A-SY-2026-{i:06d}", "version": 1,
                    "state": "valid", "reason": "", "since": "2026-01-05T00:00:00+00:00", "superseded_by": None,
                    "record_no": f"辽A-T-{i:06d}", "registered_at": "2026-01-05T00:00:00+00:00"}
                   for i in range(first, first + SYNC_PAGE)]
        page = {"format": 1, "since": since, "next": entries[-1]["cursor"], "more": first + SYNC_PAGE < SYNC_ENTRIES,
                "generated_at": now, "entries": entries}
        pages[since] = json.dumps(sign_page(page, feed_key), ensure_ascii=False)
        since = page["next"]
    return pages


RAW_IDB_JS = """async ({count, page}) => {
  const open = indexedDB.open("bench-raw", 1);
  open.onupgradeneeded = () => open.result.createObjectStore("rows", {keyPath: ["registration_no", "version"]});
  const db = await new Promise((ok, fail) => { open.onsuccess = () => ok(open.result); open.onerror = fail; });
  const before = (await navigator.storage.estimate()).usage;
  const started = performance.now();
  for (let first = 0; first < count; first += page) {
    const tx = db.transaction("rows", "readwrite");
    const rows = tx.objectStore("rows");
    for (let i = first; i < first + page; i++) {
      rows.put({registration_no: `辽B-SY-2026-${String(i).padStart(6, "0")}`, version: 1, state: "valid", reason: "",
                since: "2026-01-05T00:00:00+00:00", superseded_by: null, record_no: `辽B-T-${i}`,
                registered_at: "2026-01-05T00:00:00+00:00", cursor: `${i}-0`});
    }
    await new Promise((ok, fail) => { tx.oncomplete = ok; tx.onerror = fail; });
  }
  const seconds = (performance.now() - started) / 1000;
  return {seconds, bytes: (await navigator.storage.estimate()).usage - before};
}"""


def sync(playwright, service: Service, work: Path, code: str) -> dict[str, float]:
    pages = feed_pages(PrivateKey.from_pem((service.data_dir / "keys" / "feed.key.pem").read_bytes()))
    # No service worker here: the router sees every request, and the figure is the sync's alone.
    context = launch(playwright, work / "sync", camera_file(code, work / "sync.y4m"), service_workers="block")

    def feed(route) -> None:
        since = parse_qs(urlsplit(route.request.url).query).get("since", ["0"])[0]
        route.fulfill(status=200, content_type="application/json", body=pages[since])

    context.route("**/api/v1/status-feed*", feed)
    page = context.pages[0]
    page.goto(service.url + "/scan/")
    page.wait_for_selector("#sync-message:has-text('同步完成')", timeout=900_000)
    seconds = page.evaluate("(performance.getEntriesByName('scan:sync-end')[0].startTime - "
                            "performance.getEntriesByName('scan:sync-start')[0].startTime) / 1000")
    used = page.evaluate("navigator.storage.estimate().then(e => e.usage)")
    count = page.locator("#data-facts").inner_text()
    raw = page.evaluate(RAW_IDB_JS, {"count": SYNC_ENTRIES, "page": SYNC_PAGE})
    context.close()
    assert str(SYNC_ENTRIES) in count, count
    return {"seconds": seconds, "bytes": used, "raw_seconds": raw["seconds"], "raw_bytes": raw["bytes"]}


def run() -> list[str]:
    from playwright.sync_api import sync_playwright

    subprocess.run(["node", "build.mjs"], cwd=WEBAPP, check=True)
    build = json.loads((WEBAPP / "dist" / "build.json").read_text("utf-8"))
    with tempfile.TemporaryDirectory() as tmp, Service(Path(tmp) / "data") as service, \
            sync_playwright() as playwright:
        work = Path(tmp)
        code = next(c["qr_text"] for c in service.manifest()["certificates"] if c["expected_status"] == "valid")
        load = page_load(playwright, service.url, work, code)
        frame = frames(playwright, service.url, work, code)
        verify = verification(playwright, service.url, work)
        synced = sync(playwright, service, work, code)
    kb = lambda n: f"{n / 1024:.1f}"  # noqa: E731
    mb = lambda n: f"{n / 1048576:.1f}"  # noqa: E731
    lines = [
        "## Phone app (/scan/) in headless Chromium",
        "",
        f"Chromium {chromium_version()}, one page at a phone's size, fake camera 1280x720 showing a demo code. "
        f"Bundle: app JS {kb(build['gzip']['initial'] + build['gzip']['decoder.js'])} KB gzip (page "
        f"{kb(build['gzip']['initial'])}, decoder worker {kb(build['gzip']['decoder.js'])}; budget 60), loaded only "
        f"when needed {kb(build['gzip'].get('lazy', 0))} KB gzip (SM2, Ed25519 fallback); zxing-wasm "
        f"{build['zxing']} reader .wasm {kb((WEBAPP / 'dist').joinpath(build['files']['decoder.wasm'][6:]).stat().st_size)} KB.",
        "",
        "| | median | runs |",
        "|---|---:|---:|",
        f"| page load to camera ready, first visit (ms) | {statistics.median(load['cold']):.0f} | {len(load['cold'])} |",
        f"| page load to camera ready, repeat visit: assets from the service worker's cache (ms) | {statistics.median(load['warm']):.0f} "
        f"| {len(load['warm'])} |",
        f"| decode per {frame['size']} frame, ours: grab, hand over, read pixels, decode (ms) | {frame['ours']:.1f} | {frame['frames']} |",
        f"| decode per {frame['size']} frame, zxing-wasm readBarcodes alone, same frames (ms) | {frame['zxing']:.1f} "
        f"| {frame['frames']} |",
        "",
        f"Verification of the shared vectors (median of {VERIFY_RUNS}, keys already imported):",
        "",
        "| algorithm | JavaScript core in Chromium (ms) | keys.payload.verify_at in Python (ms) |",
        "|---|---:|---:|",
        *[f"| {alg} | {v['browser']:.2f} | {v['python']:.2f} |" for alg, v in verify.items()],
        "",
        f"Sync of {SYNC_ENTRIES:,} feed entries ({SYNC_ENTRIES // SYNC_PAGE} signed pages of {SYNC_PAGE:,}, each "
        "page's signature verified, entries folded, page and rows stored in one transaction):",
        "",
        "| | seconds | storage (MB) |",
        "|---|---:|---:|",
        f"| app sync into IndexedDB | {synced['seconds']:.1f} | {mb(synced['bytes'])} |",
        f"| plain IndexedDB writes of as many rows (baseline) | {synced['raw_seconds']:.1f} | {mb(synced['raw_bytes'])} |",
        "",
    ]
    return lines


def chromium_version() -> str:
    out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    return next((part for part in out.split() if part[:1].isdigit()), "?")
