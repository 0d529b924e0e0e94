"""Where the CPU of one verify goes: py-spy samples the gunicorn workers while wrk loads POST /api/v1/verify.

    .venv/bin/pip install py-spy        # a tool for this only, not a dependency
    .venv/bin/python -m bench.profile [repeated|distinct] [seconds]

`repeated` sends one valid demo QR again and again; `distinct` round-robins through 20,000 certificates
registered for the run (more than the per-worker caches hold). Only the thread holding the GIL is sampled
(--gil), so the shares are of the workers' Python CPU. Prints the share of samples in which each part of
the stack appears (inclusive: indented parts are inside the one above), and writes the raw stacks to
bench/out/ for a flame graph.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from verify_api import demo
from verify_api.redis_server import RedisServer
from verify_api.store import Store

from .service import WRK_SECONDS, gunicorn, wrk

OUT = Path(__file__).with_name("out")

# Stack frames are grouped into these parts, first match wins (a frame's text is "function (file:line)").
PARTS = [
    ("check_text: resolve, count, scan log (verify_api.checks)", "check_text (verify_api/checks.py"),
    ("  signature check (keys.payload verify_at)", "verify_at (keys/payload.py"),
    ("  Redis read (redis-py)", "(redis/"),
    ("  masking (verify_api.privacy)", "(verify_api/privacy.py"),
    ("  answer decided (keys.verdict answer_code)", "answer_code (keys/verdict.py"),
    ("  scan log", "(verify_api/scanlog.py"),
    ("answer bytes (Resolution.json, orjson)", "Resolution.json ("),
    ("request body parsed", "json_object ("),
    ("metrics", "(verify_api/metrics.py"),
    ("Flask-Limiter hooks", "(flask_limiter/"),
    ("Flask request machinery (all of the app)", "Flask.wsgi_app (flask/app.py"),
    ("gunicorn outside the app (parse, write, loop)", None),
]


def summarise(raw: Path) -> list[tuple[str, float]]:
    total, parts = 0, Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        for label, marker in PARTS:
            if marker is None:
                if "Flask.wsgi_app" not in stack:
                    parts[label] += n
            elif marker in stack:
                parts[label] += n
    return [(label, 100 * parts[label] / max(total, 1)) for label, _ in PARTS]


def profile(mode: str = "repeated", seconds: int = WRK_SECONDS) -> list[str]:
    if not shutil.which("py-spy") and not Path(sys.executable).with_name("py-spy").exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crane-profile-") as tmp:
        work = Path(tmp)
        with RedisServer(work / "redis") as redis_server:
            store = Store(redis_server.url)
            manifest_path, _ = demo.build(store, work / "data", "https://verify.example.cn", datetime.now(UTC))
            manifest = json.loads(manifest_path.read_text("utf-8"))
            texts = [c["qr_text"] for c in manifest["certificates"] if c["expected_status"] == "valid"]
            if mode == "distinct":
                from .service import register_distinct
                texts = register_distinct(store, work / "data", 20_000)
            (work / "metrics").mkdir()
            env = {"REDIS_URL": redis_server.url, "CRANE_DATA_DIR": str(work / "data"), "CRANE_RATE_LIMIT": "off",
                   "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics")}
            pids: list[int] = []
            with gunicorn("verify_api.wsgi:app", env, pids=pids) as url:
                wrk(url, {"qr": texts[0]}, 2, texts=texts)
                raw = OUT / f"profile-{mode}.txt"
                recorder = subprocess.Popen([spy, "record", "--subprocesses", "--gil", "--nonblocking", "-r", "200", "-d",
                                             str(seconds), "-f", "raw", "-o", str(raw), "-p", str(pids[0])],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                load = threading.Thread(target=wrk, args=(url, {"qr": texts[0]}, seconds), kwargs={"texts": texts})
                load.start()
                load.join()
                recorder.wait(60)
    lines = [f"py-spy, {mode} QR, share of samples in each part (a part includes what it calls):", "",
             "| part | % of samples |", "|---|---:|"]
    lines += [f"| {label} | {share:.0f} |" for label, share in summarise(raw)]
    return lines


if __name__ == "__main__":
    args = sys.argv[1:]
    print("\n".join(profile(args[0] if args else "repeated", int(args[1]) if len(args) > 1 else WRK_SECONDS)))
