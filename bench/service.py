"""POST /api/v1/verify under gunicorn (the service's workers, rate limit off, metrics on) beside a bare Flask
endpoint under the same gunicorn settings, both loaded by wrk in the same run, with the worker CPU per request;
the same under gunicorn's sync workers for comparison; lookups and the public page; bulk import throughput."""

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
import urllib.parse
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
def gunicorn(app: str, env: dict[str, str], conf: Path = GUNICORN_CONF, pids: list[int] | None = None) -> Iterator[str]:
    """The app under gunicorn with the service's own config file (or `conf`), on a port the OS picks; the
    master's pid is appended to `pids` (for a profiler)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(conf), "--bind", f"fd://{listener.fileno()}", app],
        env={**os.environ, "CRANE_WORKERS": "2", "PYTHONPATH": str(ROOT), **env}, pass_fds=(listener.fileno(),),
        start_new_session=True, cwd=ROOT)
    listener.close()
    if pids is not None:
        pids.append(process.pid)
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


def wrk(url: str, body: dict | None = None, seconds: int = WRK_SECONDS, texts: list[str] | None = None,
        path: str = "/api/v1/verify") -> dict[str, float]:
    """Requests/s and latency percentiles from wrk (2 threads, 32 connections): POST `body`, POST {"qr": t}
    round-robin over `texts` (each wrk thread from its own starting point), or GET `path` when no body."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "load.lua"
        if texts:
            listing = Path(tmp) / "texts.txt"
            listing.write_text("\n".join(texts) + "\n", "utf-8")
            script.write_text(
                f'local texts = {{}}\nfor line in io.lines("{listing}") do texts[#texts + 1] = line end\n'
                'local n = 0\nfunction init(args) n = math.random(#texts) end\n'
                'function request()\n  n = n % #texts + 1\n'
                '  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, '
                '\'{"qr": "\' .. texts[n] .. \'"}\')\nend\n')
        elif body is not None:
            script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
                              'wrk.headers["Content-Type"] = "application/json"\n')
        else:
            script.write_text("")
        out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s", str(script), url + path],
                             capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "requests": requests, "p50_ms": _latency(out, "50%"), "p99_ms": _latency(out, "99%"),
            "non_2xx": int(errors.group(1)) if errors else 0}


def _latency(out: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", out).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def cpu_seconds(master: int) -> float:
    """User and system CPU the gunicorn workers (the master's children) have used so far."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measured(url: str, master: int, **load) -> dict[str, float]:
    """wrk's figures plus the workers' CPU per request in ms."""
    before = cpu_seconds(master)
    result = wrk(url, **load)
    result["cpu_ms"] = 1000 * (cpu_seconds(master) - before) / max(result["requests"], 1)
    return result


def register_distinct(store: Store, data_dir: Path, count: int) -> list[str]:
    """`count` more certificates of the demo issuers, registered by the bulk import; their QR texts."""
    keys = demo.ensure_keys(data_dir)
    rng = random.Random(2)
    signed_at = datetime(2025, 5, 1, 2, tzinfo=UTC)
    lines, texts = [], []
    for i in range(count):
        city = CITIES[i % 3]
        raw = sample_record(rng, 50_000 + i, city=city)
        text = issue(Record.from_json(raw), keys.issuers[city.code], "https://verify.example.cn", signed_at)
        lines.append(json.dumps({"record": raw, "qr_text": text}, ensure_ascii=False))
        texts.append(text)
    path = data_dir / "distinct.jsonl"
    path.write_text("\n".join(lines), "utf-8")
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdout_isatty=False,
                      vars={"REDIS_URL": store.url, "CRANE_DATA_DIR": str(data_dir)})
    assert crane_verify(["import", str(path)], env) == 0, env.stderr.getvalue()
    return texts


def settle(store: Store, timeout: float = 120) -> None:
    """Wait until Redis has no snapshot or AOF rewrite running: one after a bulk import takes a core for
    seconds, and a round measured beside it is a third slower."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = store.client.info("persistence")
        if not any(info.get(k) for k in ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress")):
            return
        time.sleep(0.5)


def _ratio(measures: dict[str, dict]) -> float:
    return measures["threaded verify"]["rps"] / measures["threaded bare"]["rps"]


def _sync_conf(work: Path) -> Path:
    """The worker model before the slow-client change (2 sync workers), for the comparison."""
    conf = work / "gunicorn_sync.py"
    conf.write_text(f"exec(open({str(GUNICORN_CONF)!r}).read())\nworker_class = 'sync'\n", "utf-8")
    return conf


def _row(name: str, r: dict[str, float]) -> str:
    return f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['cpu_ms']:.2f} | {r['non_2xx']} |"


ROUNDS = 3


def run_verify(work: Path) -> list[str]:
    data_dir = work / "data"
    with RedisServer(work / "redis") as redis_server:
        store = Store(redis_server.url)
        manifest_path, _ = demo.build(store, data_dir, "https://verify.example.cn", datetime.now(UTC))
        manifest = json.loads(manifest_path.read_text("utf-8"))
        cert = next(c for c in manifest["certificates"] if c["expected_status"] == "valid" and "qr_text" in c)
        qr = cert["qr_text"]
        distinct = register_distinct(store, data_dir, 20_000)
        settle(store)
        metrics_dir = work / "metrics"
        metrics_dir.mkdir()
        service_env = {"REDIS_URL": redis_server.url, "CRANE_DATA_DIR": str(data_dir), "CRANE_RATE_LIMIT": "off",
                       "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        read_env = {"BENCH_REDIS_URL": redis_server.url,
                    "BENCH_REDIS_KEY": keyspace.version(cert["registration_no"], cert["version"])}
        lookup = (f"/api/v1/certificates/{urllib.parse.quote(cert['registration_no'], safe='')}"
                  f"?record_no={urllib.parse.quote(cert['record_no'], safe='')}")
        page = "/V/" + qr.rsplit("/", 1)[1]
        rounds: list[dict[str, dict]] = []
        rows: dict[str, dict] = {}
        for conf, label in ((_sync_conf(work), "sync"), (GUNICORN_CONF, "threaded")):
            rounds_here = ROUNDS if label == "threaded" else 1
            for _ in range(rounds_here):
                settle(store)
                pids: list[int] = []
                with gunicorn("bench.bare_app:app", {}, conf, pids) as url:
                    wrk(url, {"qr": qr}, 2)
                    bare = measured(url, pids[-1], body={"qr": qr})
                    bare_distinct = measured(url, pids[-1], texts=distinct)
                with gunicorn("verify_api.wsgi:app", service_env, conf, pids) as url:
                    check = json.loads(urllib.request.urlopen(urllib.request.Request(  # noqa: S310
                        url + "/api/v1/verify", data=json.dumps({"qr": qr}).encode(),
                        headers={"Content-Type": "application/json"})).read())
                    assert check["verdict"]["ok"], check
                    wrk(url, {"qr": qr}, 2)
                    ours = measured(url, pids[-1], body={"qr": qr})
                    ours_distinct = measured(url, pids[-1], texts=distinct)
                    if label == "threaded" and "lookup" not in rows:
                        rows["lookup"] = measured(url, pids[-1], path=lookup)
                        rows["page"] = measured(url, pids[-1], path=page)
                measures = {f"{label} bare": bare, f"{label} verify": ours, f"{label} bare distinct": bare_distinct,
                            f"{label} verify distinct": ours_distinct}
                if label == "threaded":
                    rounds.append(measures)
                else:
                    rows.update(measures)
        # the threaded rows are the round whose ratio is the median: one round's figures side by side
        rounds.sort(key=_ratio)
        rows.update(rounds[len(rounds) // 2])
        pids = []
        with gunicorn("bench.bare_app:app", read_env, pids=pids) as url:
            wrk(url, {"qr": qr}, 2)
            rows["bare read"] = measured(url, pids[-1], body={"qr": qr})
    ratios = [_ratio(r) for r in rounds]
    ratio = ratios[len(ratios) // 2]
    sync_ratio = rows["sync verify"]["rps"] / rows["sync bare"]["rps"]
    return [
        "### POST /api/v1/verify vs a bare Flask JSON endpoint, under the same gunicorn workers",
        "",
        f"2 workers, wrk 2 threads 32 connections {WRK_SECONDS} s per figure, rate limit off, metrics on. "
        "\"threaded\": the service's workers (verify_api/http_worker.py, 4 threads each); \"sync\": gunicorn's "
        "sync workers, the model before the slow-client change. CPU: user+system of the workers per request. "
        "Distinct: POSTs round-robin over 20,000 registered certificates, more than the per-worker caches hold.",
        "",
        "| endpoint | requests/s | p50 ms | p99 ms | CPU ms/request | non-2xx |",
        "|---|---:|---:|---:|---:|---:|",
        _row("sync: bare Flask (baseline)", rows["sync bare"]),
        _row("sync: /api/v1/verify, one valid QR", rows["sync verify"]),
        _row("sync: bare Flask, distinct bodies (baseline)", rows["sync bare distinct"]),
        _row("sync: /api/v1/verify, 20,000 distinct QRs", rows["sync verify distinct"]),
        _row("threaded: bare Flask (baseline)", rows["threaded bare"]),
        _row("threaded: bare Flask + one Redis HGETALL of the version hash", rows["bare read"]),
        _row("threaded: /api/v1/verify, one valid QR", rows["threaded verify"]),
        _row("threaded: bare Flask, distinct bodies (baseline)", rows["threaded bare distinct"]),
        _row("threaded: /api/v1/verify, 20,000 distinct QRs", rows["threaded verify distinct"]),
        _row("threaded: GET /api/v1/certificates/... (lookup by numbers)", rows["lookup"]),
        _row("threaded: GET /V/... (public page)", rows["page"]),
        "",
        f"Verify with one repeated QR reaches **{ratio:.2f}x** the bare endpoint under the same threaded workers "
        f"(median of {ROUNDS} rounds, whose figures the threaded rows show: {', '.join(f'{r:.2f}' for r in ratios)}; target 0.60x, p99 "
        f"{rows['threaded verify']['p99_ms']:.1f} ms, target < 25 ms); under sync workers {sync_ratio:.2f}x. "
        f"With 20,000 distinct QRs a verify costs **{rows['threaded verify distinct']['cpu_ms']:.2f} ms** of "
        f"worker CPU (target at most 1.0 ms; the bare endpoint "
        f"{rows['threaded bare distinct']['cpu_ms']:.2f} ms).",
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
