"""Typed records: the paths that carry a certificate record, in-process (no HTTP), median of five rounds,
beside the same paths in the tree before records were typed (BASELINE, the hand-written reader and
records as dicts), measured in the same run.

- scan: `resolve` of a valid demo QR text and the answer's JSON, the work behind POST /api/v1/verify
  (signature check cached, as in a running service; one read of a real redis-server, most of the time);
- public view: the masked record an answer shows, for a version just read (`resolve.public_certificate`);
- answer JSON: `Answer.to_json` of that scan's answer;
- lookup: a certificate found by its two numbers (`find_by_numbers` reads the stored record) and its answer;
- import: `Record.from_json` of a sample record as an issuing system sends it (bulk import, issuer API);
- dump: `Record.to_json`, what the store keeps.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from keys.record import Record
from keys.samples import sample_record
from verify_api import create_app, demo
from verify_api.config import Config
from verify_api.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "43321f919c2e71e4f69fecb77d85a2671a8abf8d"
ROUNDS = 5


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    """Median over ROUNDS of the mean time of one call, in microseconds."""
    fn()
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        rounds.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(rounds)


def measure(work: Path) -> dict[str, float]:
    """The figures for the code this module is imported with (it runs unchanged on BASELINE's tree)."""
    from verify_api.checks import check_by_numbers
    from verify_api.resolve import public_certificate, resolve

    now = datetime.now(UTC)
    raws = [sample_record(random.Random(i), 1000 + i) for i in range(200)]
    records = [Record.from_json(raw) for raw in raws]
    with RedisServer(work / "redis") as redis_server:
        config = Config.from_env({"REDIS_URL": redis_server.url, "CRANE_DATA_DIR": str(work / "data"),
                                  "CRANE_RATE_LIMIT": "off"})
        app = create_app(config)
        services = app.extensions["crane"]
        manifest_path, _ = demo.build(services.store, work / "data", config.public_url, now)
        manifest = json.loads(manifest_path.read_text("utf-8"))
        cert = next(c for c in manifest["certificates"] if c["expected_status"] == "valid")
        trust = services.trust.current()

        def scan() -> object:
            return resolve(cert["qr_text"], trust, services.store, now).answer.to_json()

        def lookup() -> object:
            with app.app_context():
                return check_by_numbers(cert["registration_no"], cert["record_no"])

        assert scan()["verdict"]["ok"]
        stored = services.store.get(cert["registration_no"])
        answer = resolve(cert["qr_text"], trust, services.store, now).answer
        figures = {"scan": per_call_us(scan, 2000),
                   "public view": per_call_us(lambda: public_certificate(replace(stored)), 20000),
                   "answer JSON": per_call_us(answer.to_json, 20000),
                   "lookup": per_call_us(lookup, 2000)}
    figures["import"] = per_call_us(lambda: [Record.from_json(raw) for raw in raws], 25) / len(raws)
    figures["dump"] = per_call_us(lambda: [r.to_json() for r in records], 25) / len(raws)
    return figures


def measure_baseline(work: Path) -> dict[str, float]:
    """The same figures on BASELINE's tree (this file copied in), in a process of its own."""
    tree = work / "baseline"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    shutil.copy(__file__, tree / "bench" / "records.py")
    out = subprocess.run([sys.executable, "-m", "bench.records", "--json"], cwd=tree, capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": str(tree)}).stdout
    return json.loads(out.strip().splitlines()[-1])


def run() -> list[str]:
    """Each side measured twice, alternately, keeping the faster figure: a loaded machine slows one round."""
    before: dict[str, float] = {}
    now: dict[str, float] = {}
    for _ in range(2):
        with tempfile.TemporaryDirectory(prefix="crane-bench-records-") as tmp:
            work = Path(tmp)
            (work / "now").mkdir()
            for side, figures in ((before, measure_baseline(work)), (now, measure(work / "now"))):
                for name, value in figures.items():
                    side[name] = min(value, side.get(name, value))
    return ["## Typed records", "", __doc__.split("\n\n", 1)[1].strip(), "",
            f"| path | µs per call, before ({BASELINE[:7]}) | µs per call, typed |", "|---|---:|---:|",
            *(f"| {name} | {before[name]:.1f} | {now[name]:.1f} |" for name in now), ""]


if __name__ == "__main__":
    if sys.argv[1:] == ["--json"]:
        with tempfile.TemporaryDirectory(prefix="crane-bench-records-") as tmp:
            print(json.dumps(measure(Path(tmp))))
    else:
        print("\n".join(run()))
