"""Inspection uploads: records stored per second through POST /api/v1/inspections (each re-verified,
flagged and stored once), beside a bare Flask endpoint that only parses the same batches, both under the
same gunicorn settings and loaded by the same client in the same run; and a retried batch's cost."""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, jsonify, request

from verify_api import demo
from verify_api.redis_server import RedisServer
from verify_api.store import Store
from verify_api.store.tokens import Role

from .service import gunicorn

BATCH = 50
CLIENTS = 8
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))

bare_app = Flask(__name__)


@bare_app.post("/api/v1/inspections")
def _bare_upload():
    """The baseline: the same body read and answered, nothing checked or stored."""
    request.max_content_length = 20 * 1024 * 1024
    items = request.get_json()["inspections"]
    return jsonify({"results": [{"id": i["id"], "outcome": "stored", "flags": [], "reason": ""} for i in items]})


def _batches(texts: list[str], count: int) -> list[bytes]:
    checked_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    out = []
    for n in range(count):
        records = [{"id": str(uuid.uuid4()), "qr": texts[(n * BATCH + i) % len(texts)], "checked_at": checked_at,
                    "shown": {"state": "valid", "signature": "valid", "mode": "offline", "data_age_s": 600},
                    "plate": {"record_no": "match", "factory_serial": "unchecked"},
                    "location": {"lat": 41.8 + i / 1000, "lon": 123.4, "accuracy_m": 10}, "note": "", "photo": None}
                   for i in range(BATCH)]
        out.append(json.dumps({"inspections": records}).encode())
    return out


def _load(url: str, token: str, bodies: list[bytes], seconds: float) -> dict[str, float]:
    """Post the bodies from CLIENTS connections for `seconds`; records answered per second and p50/p99 ms."""
    parts = urlsplit(url)
    deadline = time.monotonic() + seconds
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def client(n: int) -> list[float]:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        took = []
        i = n
        while time.monotonic() < deadline and i < len(bodies):
            started = time.perf_counter()
            connection.request("POST", "/api/v1/inspections", bodies[i], headers)
            response = connection.getresponse()
            answer = response.read()
            assert response.status == 200, answer[:300]
            took.append(time.perf_counter() - started)
            i += CLIENTS
        connection.close()
        return took

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        times = sorted(t for part in pool.map(client, range(CLIENTS)) for t in part)
    elapsed = time.monotonic() - started
    return {"records_s": len(times) * BATCH / elapsed, "p50_ms": times[len(times) // 2] * 1000,
            "p99_ms": times[int(len(times) * 0.99)] * 1000, "batches": len(times)}


def run() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="crane-bench-inspections-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        with RedisServer(work / "redis") as redis_server:
            store = Store(redis_server.url)
            now = datetime.now(UTC)
            manifest_path, _ = demo.build(store, data_dir, "https://verify.example.cn", now)
            manifest = json.loads(manifest_path.read_text("utf-8"))
            texts = [c["qr_text"] for c in manifest["certificates"] if c["expected_status"] == "valid"]
            token = store.create_token("21", now, role=Role.INSPECTOR, name="压测",
                                       expires_at=now + timedelta(days=1))[1]
            bodies = _batches(texts, 4000)
            metrics_dir = work / "metrics"
            metrics_dir.mkdir()
            with gunicorn("bench.inspections:bare_app", {}) as url:
                _load(url, token, bodies[:40], 2)
                bare = _load(url, token, bodies, SECONDS)
            env = {"REDIS_URL": redis_server.url, "CRANE_DATA_DIR": str(data_dir), "CRANE_RATE_LIMIT": "off",
                   "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
            with gunicorn("verify_api.wsgi:app", env) as url:
                fresh = bodies[40:]
                _load(url, token, fresh[:40], 2)
                ours = _load(url, token, fresh[40:], SECONDS)
                retried = _load(url, token, fresh[40:40 + ours["batches"]], SECONDS)
            memory = redis_server.client().info("memory")["used_memory"]
            stored = ours["batches"] * BATCH + 40 * BATCH
    return [
        "## Inspection uploads",
        "",
        f"POST /api/v1/inspections, batches of {BATCH} records without photos (valid demo certificates, each "
        f"with a position), {CLIENTS} client connections for {SECONDS:g} s; gunicorn 2 sync workers, rate limit "
        "off, metrics on. The baseline is a bare Flask endpoint under the same gunicorn settings that parses "
        "the same batches and answers each id, loaded by the same client in the same run.",
        "",
        "| endpoint | records/s | p50 ms per batch | p99 ms per batch |",
        "|---|---:|---:|---:|",
        f"| bare Flask, parse and answer (baseline) | {bare['records_s']:.0f} | {bare['p50_ms']:.1f} | "
        f"{bare['p99_ms']:.1f} |",
        f"| /api/v1/inspections, new records (verify, flag, store) | {ours['records_s']:.0f} | "
        f"{ours['p50_ms']:.1f} | {ours['p99_ms']:.1f} |",
        f"| /api/v1/inspections, the same batches again (all duplicates) | {retried['records_s']:.0f} | "
        f"{retried['p50_ms']:.1f} | {retried['p99_ms']:.1f} |",
        "",
        f"Ingest is **{ours['records_s'] / bare['records_s']:.2f}x** the bare endpoint's records/s; Redis held "
        f"{memory / max(stored, 1) / 1024:.1f} KiB per stored record (with the demo registry).",
        "",
    ]


if __name__ == "__main__":
    print("\n".join(run()))
