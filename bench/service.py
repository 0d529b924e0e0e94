"""POST /api/v1/verify under gunicorn (2 sync workers, rate limit off, metrics on) beside a bare Flask endpoint
under the same gunicorn settings, both loaded by wrk in the same run; and bulk import throughput."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from keys.cli_env import Environment
from keys.payload import issue
from keys.record import Record
from keys.samples import CITIES, sample_record
from verify_api import demo, keyspace
from verify_api.cli import main as crane_verify
from verify_api.redis_server import RedisServer
from verify_api.store import Store

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONF = ROOT / "verify_api" / "gunicorn_conf.py"
WRK_SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str]) -> Iterator[str]:
    """The app under gunicorn with the service's own config file, on a port the OS picks."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--bind", f"fd://{listener.fileno()}", app],
        env={**os.environ, "CRANE_WORKERS": "2", "PYTHONPATH": str(ROOT), **env}, pass_fds=(listener.fileno(),),
        start_new_session=True, cwd=ROOT)
    listener.close()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url + "/healthz", timeout=1)  # noqa: S310
                break
            with contextlib.suppress(urllib.error.HTTPError, OSError):
                urllib.request.urlopen(url + "/", timeout=1)  # noqa: S310
            time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)


def wrk(url: str, body: dict, seconds: int = WRK_SECONDS) -> dict[str, float]:
    """Requests/s and latency percentiles from wrk (2 threads, 32 connections)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
                     'wrk.headers["Content-Type"] = "application/json"\n')
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s", script.name,
                          url + "/api/v1/verify"], capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": _latency(out, "50%"), "p99_ms": _latency(out, "99%"),
            "non_2xx": int(errors.group(1)) if errors else 0}


def _latency(out: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", out).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_verify(work: Path) -> list[str]:
    data_dir = work / "data"
    with RedisServer(work / "redis") as redis_server:
        store = Store(redis_server.url)
        manifest_path, _ = demo.build(store, data_dir, "https://verify.example.cn", datetime.now(UTC))
        manifest = json.loads(manifest_path.read_text("utf-8"))
        qr = next(c["qr_text"] for c in manifest["certificates"] if c["expected_status"] == "valid")
        metrics_dir = work / "metrics"
        metrics_dir.mkdir()
        service_env = {"REDIS_URL": redis_server.url, "CRANE_DATA_DIR": str(data_dir), "CRANE_RATE_LIMIT": "off",
                       "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        with gunicorn("bench.bare_app:app", {}) as url:
            wrk(url, {"qr": qr}, 2)  # warm up
            bare = wrk(url, {"qr": qr})
        # The floor a scan cannot go below: the same endpoint plus the one registry read an answer needs.
        cert = next(c for c in manifest["certificates"] if c.get("qr_text") == qr)
        key = keyspace.version(cert["registration_no"], cert["version"])
        with gunicorn("bench.bare_app:app", {"BENCH_REDIS_URL": redis_server.url, "BENCH_REDIS_KEY": key}) as url:
            wrk(url, {"qr": qr}, 2)
            bare_read = wrk(url, {"qr": qr})
        with gunicorn("verify_api.wsgi:app", service_env) as url:
            check = json.loads(urllib.request.urlopen(urllib.request.Request(  # noqa: S310
                url + "/api/v1/verify", data=json.dumps({"qr": qr}).encode(),
                headers={"Content-Type": "application/json"})).read())
            assert check["verdict"]["ok"], check
            wrk(url, {"qr": qr}, 2)
            ours = wrk(url, {"qr": qr})
    ratio = ours["rps"] / bare["rps"]
    return [
        "### POST /api/v1/verify (valid demo QR) vs a bare Flask JSON endpoint",
        "",
        f"gunicorn 2 sync workers, wrk 2 threads 32 connections {WRK_SECONDS} s, rate limit off, metrics on.",
        "",
        "| endpoint | requests/s | p50 ms | p99 ms | non-2xx |",
        "|---|---:|---:|---:|---:|",
        f"| bare Flask (baseline) | {bare['rps']:.0f} | {bare['p50_ms']:.2f} | {bare['p99_ms']:.2f} | {bare['non_2xx']} |",
        f"| bare Flask + one Redis HGETALL of the version hash | {bare_read['rps']:.0f} | {bare_read['p50_ms']:.2f} | "
        f"{bare_read['p99_ms']:.2f} | {bare_read['non_2xx']} |",
        f"| /api/v1/verify | {ours['rps']:.0f} | {ours['p50_ms']:.2f} | {ours['p99_ms']:.2f} | {ours['non_2xx']} |",
        "",
        f"Verify throughput is **{ratio:.2f}x** the bare endpoint's (target: at least 0.60x), "
        f"and **{ours['rps'] / bare_read['rps']:.2f}x** that of the bare endpoint doing the registry read alone.",
        "",
    ]


def run_import(work: Path, count: int = 20_000) -> list[str]:
    data_dir = work / "import-data"
    keys = demo.ensure_keys(data_dir)
    rng = random.Random(1)
    signed_at = datetime(2025, 5, 1, 2, tzinfo=UTC)
    started = time.perf_counter()
    lines = []
    for i in range(count):
        city = CITIES[i % 3]
        raw = sample_record(rng, 10_000 + i, city=city)
        text = issue(Record.from_json(raw), keys.issuers[city.code], "https://verify.example.cn", signed_at)
        lines.append(json.dumps({"record": raw, "qr_text": text}, ensure_ascii=False))
    sign_s = time.perf_counter() - started
    path = work / "import.jsonl"
    path.write_text("\n".join(lines), "utf-8")
    with RedisServer(work / "redis-import") as redis_server:
        env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdout_isatty=False,
                          vars={"REDIS_URL": redis_server.url, "CRANE_DATA_DIR": str(data_dir)})
        started = time.perf_counter()
        status = crane_verify(["import", str(path)], env)
        elapsed = time.perf_counter() - started
        memory = redis_server.client().info("memory")["used_memory"]
    assert status == 0, env.stderr.getvalue()
    return [
        "### Bulk import (`crane-verify import`, signature and record checks included)",
        "",
        "| certificates | seconds | certificates/s | Redis memory per certificate | (issuing them: certificates/s) |",
        "|---:|---:|---:|---:|---:|",
        f"| {count} | {elapsed:.1f} | {count / elapsed:.0f} | {memory / count / 1024:.1f} KiB | {count / sign_s:.0f} |",
        "",
    ]


def run() -> list[str]:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it as root)")
    with tempfile.TemporaryDirectory(prefix="crane-bench-") as tmp:
        work = Path(tmp)
        return ["## Service", "", *run_verify(work), *run_import(work)]


if __name__ == "__main__":
    print("\n".join(run()))
