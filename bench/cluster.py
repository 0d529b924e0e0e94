"""Scale-out figures: bulk import into one redis-server and into a 3x2 Redis Cluster, and verify throughput
through nginx with one and two service nodes on the cluster, each beside its baseline.

What is measured, exactly:
- Signing: BENCH_IMPORT_N distinct certificates (keys.samples records, Ed25519 demo issuer keys, real
  COSE_Sign1 QR texts) are signed in a process pool and written as the JSON lines `crane-verify import`
  reads. Not part of any rate below.
- Import: the store path of an import, `Store.register_many` (batches of 500) fed by reading, parsing and
  validating (`Record.from_json`) those JSON lines; the signature check that `crane-verify import` does first is left out and measured on
  its own (a sample of 2,000 through `keys.payload.verify_at`, every one `valid`). Single node: Debian's
  redis-server on a unix socket, AOF with `appendfsync always` (the embedded default). Cluster: 3 masters
  + 3 replicas on loopback TCP, same AOF settings, writes acknowledged by one replica (WAIT 1, as
  CRANE_REDIS_REPLICAS=1 runs). Baseline: redis-benchmark SET of a 1,500-byte value (about one record)
  with 16-deep pipelines on the same server(s).
- Verify: wrk (2 threads, 32 connections) POSTing /api/v1/verify round-robin over 20,000 distinct imported
  QR texts, more than a worker's cache of signature checks holds, so every answer includes a signature
  check and a Redis read, as scans of many different certificates do; each service node is gunicorn with 2 sync workers (the service's gunicorn_conf), rate limit
  off; nginx has one worker. CPU per request is read from /proc for each process group (service nodes,
  nginx, the six redis-servers) and from wrk's rusage.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devtools.cluster import LocalCluster, LocalNginx
from keys.cli_env import Environment
from keys.record import Record
from verify_api import demo, keyspace
from verify_api.cli import main as crane_verify
from verify_api.redis_server import RedisServer
from verify_api.store import Outcome, Store

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONF = ROOT / "verify_api" / "gunicorn_conf.py"
REDIS_SERVER = "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None
IMPORT_N = int(os.environ.get("BENCH_IMPORT_N", "1000000"))
CLUSTER_N = int(os.environ.get("BENCH_CLUSTER_N", "200000"))
WRK_SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CHUNK = 2000
VERIFY_TEXTS = 20_000
SIGNED_AT = datetime(2025, 5, 1, 2, tzinfo=UTC)
TICKS = os.sysconf("SC_CLK_TCK")


# --- signing in a process pool ----------------------------------------------------------------------------

_worker_keys: demo.DemoKeys | None = None


def _init_signer(data_dir: str) -> None:
    global _worker_keys
    _worker_keys = demo.ensure_keys(Path(data_dir))


def _sign_chunk(start: int) -> str:
    from keys.payload import issue
    from keys.samples import CITIES, sample_record

    assert _worker_keys is not None
    lines = []
    for index in range(start, min(start + CHUNK, IMPORT_N)):
        city = CITIES[index % 3]
        raw = sample_record(random.Random(index), 1_000_000 + index, city=city)
        text = issue(Record.from_json(raw), _worker_keys.issuers[city.code], "https://verify.example.cn", SIGNED_AT)
        lines.append(json.dumps({"record": raw, "qr_text": text}, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def sign_all(data_dir: Path, path: Path) -> float:
    """Writes IMPORT_N signed lines to `path`; returns the seconds it took."""
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(os.cpu_count() or 2, initializer=_init_signer, initargs=(str(data_dir),)) as pool, \
            path.open("w", encoding="utf-8") as out:
        for done, text in enumerate(pool.imap(_sign_chunk, range(0, IMPORT_N, CHUNK)), 1):
            out.write(text)
            if done % 100 == 0:
                print(f"  signed {done * CHUNK:,}", flush=True)
    return time.perf_counter() - started


def lines(path: Path, limit: int) -> Iterator[tuple[Record, str]]:
    with path.open(encoding="utf-8") as source:
        for number, line in enumerate(source):
            if number >= limit:
                return
            item = json.loads(line)
            yield Record.from_json(item["record"]), item["qr_text"]


def verify_sample(data_dir: Path, path: Path, count: int = 2000) -> float:
    """Microseconds per signature check on the first `count` lines; every one must be valid."""
    from keys.answer import SignatureResult
    from keys.payload import verify_at
    from verify_api.trust import TrustSource

    trust = TrustSource(data_dir / "trust" / "trust.json", data_dir / "trust" / "root.pub.pem").current()
    texts = [qr for _, qr in lines(path, count)]
    now = datetime.now(UTC)
    for text in texts[:100]:  # warm up
        verify_at(text, trust, now)
    started = time.perf_counter()
    results = [verify_at(text, trust, now).result for text in texts]
    elapsed = time.perf_counter() - started
    assert all(r is SignatureResult.VALID for r in results), "a signed bench payload does not verify"
    return elapsed / len(texts) * 1e6


# --- imports ----------------------------------------------------------------------------------------------

def timed_import(store: Store, path: Path, count: int) -> float:
    started = time.perf_counter()
    created = 0
    for number, change in enumerate(store.register_many(lines(path, count), "operator:bench", datetime.now(UTC)), 1):
        created += change.outcome is Outcome.CREATED
        if number % 200_000 == 0:
            rate = number / (time.perf_counter() - started)
            print(f"  imported {number:,} ({rate:,.0f}/s)", flush=True)
    elapsed = time.perf_counter() - started
    assert created == count, f"{created} of {count} created"
    return elapsed


def redis_benchmark(*target: str, requests: int = 300_000) -> float:
    """SET of a 1,500-byte value, 16-deep pipelines, 50 clients: requests/s."""
    out = subprocess.run(["redis-benchmark", *target, "-t", "set", "-n", str(requests), "-P", "16", "-d", "1500",
                          "-r", "1000000", "--csv"], capture_output=True, text=True, check=True).stdout
    row = next(line for line in out.splitlines() if line.startswith('"SET"'))
    return float(row.split(",")[1].strip('"'))


def memory_breakdown(client, registration_nos: list[str]) -> dict[str, float]:
    """Bytes per certificate by key kind (MEMORY USAGE on a sample)."""
    kinds = {"version hash (record + QR text)": lambda r: keyspace.version(r, 1),
             "certificate hash": keyspace.certificate, "history list": keyspace.history}
    sizes = {name: sum(client.memory_usage(fn(r), samples=0) or 0 for r in registration_nos) / len(registration_nos)
             for name, fn in kinds.items()}
    return sizes


def _rewrite_aof(client) -> None:
    """Compact the AOF (its base becomes an RDB image: what a restore reads) and wait for it."""
    def busy() -> bool:
        persistence = client.info("persistence")
        return bool(persistence["aof_rewrite_in_progress"] or persistence["aof_rewrite_scheduled"])

    deadline = time.monotonic() + 900
    while busy() and time.monotonic() < deadline:  # an automatic rewrite may be running
        time.sleep(0.5)
    client.bgrewriteaof()
    time.sleep(0.5)
    while busy() and time.monotonic() < deadline:
        time.sleep(0.5)


def run_single(work: Path, path: Path) -> tuple[list[str], dict[str, float]]:
    with RedisServer(work / "redis-baseline", binary=REDIS_SERVER) as scratch:
        baseline = redis_benchmark("-s", str(scratch.socket_path))
    with RedisServer(work / "redis-single", binary=REDIS_SERVER) as server:
        client = server.client(decode_responses=True)
        before = client.info("memory")["used_memory"]
        store = Store(server.url, timeout=10.0)
        elapsed = timed_import(store, path, IMPORT_N)
        memory = client.info("memory")["used_memory"] - before
        sample = [record["registration_no"] for record, _ in lines(path, 1000)]
        breakdown = memory_breakdown(client, sample)
        streams = sum(client.memory_usage(k, samples=0) or 0 for k in (keyspace.feed(), keyspace.audit())) / IMPORT_N
        _rewrite_aof(client)
        aof = sum(f.stat().st_size for f in (server.directory / "appendonlydir").iterdir())
        client.close()
    rate = IMPORT_N / elapsed
    per_cert = memory / IMPORT_N
    figures = {"single_rate": rate, "single_bytes": per_cert, "aof_bytes": aof / IMPORT_N}
    rows = [
        "### Bulk import into one redis-server",
        "",
        "| certificates | seconds | certificates/s | baseline: redis-benchmark SET 1.5 KB, -P 16 (requests/s) | "
        "Redis memory per certificate | AOF on disk per certificate (after a rewrite: RDB image) |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {IMPORT_N:,} | {elapsed:.0f} | {rate:,.0f} | {baseline:,.0f} | {per_cert / 1024:.2f} KiB | "
        f"{aof / IMPORT_N / 1024:.2f} KiB |",
        "",
        "Memory per certificate by key (sample of 1,000): " + ", ".join(
            f"{name} {size:,.0f} B" for name, size in breakdown.items()) + f", feed + audit stream entries "
        f"{streams:,.0f} B, the rest (licence index, per-key overhead) "
        f"{per_cert - sum(breakdown.values()) - streams:,.0f} B.",
        "",
    ]
    return rows, figures


def run_cluster_import(cluster: LocalCluster, path: Path) -> tuple[list[str], dict[str, float]]:
    def used() -> tuple[int, int]:
        masters = [n.port for n in cluster.primaries()]
        total = {n.port: cluster.node_client(n).info("memory")["used_memory"] for n in cluster.running}
        return sum(v for p, v in total.items() if p in masters), sum(total.values())

    before = used()
    store = Store(cluster.url, timeout=10.0, replicas=1)
    elapsed = timed_import(store, path, CLUSTER_N)
    after = used()
    store.client.close()
    rate = CLUSTER_N / elapsed
    per_master = (after[0] - before[0]) / CLUSTER_N
    per_all = (after[1] - before[1]) / CLUSTER_N
    return [], {"cluster_rate": rate, "cluster_bytes": per_master, "cluster_bytes_all": per_all,
                "cluster_s": elapsed}


def cluster_import_rows(cluster: LocalCluster, figures: dict[str, float]) -> list[str]:
    """The baseline runs last, so its writes (and the AOF rewrites they set off) disturb nothing measured."""
    baseline = redis_benchmark("--cluster", "-h", "127.0.0.1", "-p", str(cluster.primaries()[0].port))
    rate, elapsed = figures["cluster_rate"], figures["cluster_s"]
    per_master, per_all = figures["cluster_bytes"], figures["cluster_bytes_all"]
    return [
        "### Bulk import into a Redis Cluster (3 masters + 3 replicas, WAIT 1 per pipeline)",
        "",
        "| certificates | seconds | certificates/s | baseline: redis-benchmark --cluster SET 1.5 KB, -P 16 "
        "(requests/s) | memory per certificate, masters | with the replicas |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {CLUSTER_N:,} | {elapsed:.0f} | {rate:,.0f} | {baseline:,.0f} | {per_master / 1024:.2f} KiB | "
        f"{per_all / 1024:.2f} KiB |",
        "",
    ]


def run_cli_import(cluster: LocalCluster, data_dir: Path, path: Path, work: Path, count: int = 20_000) -> list[str]:
    """`crane-verify import` itself (signatures checked) into the cluster, as an operator runs it."""
    subset = work / "cli-import.jsonl"
    with path.open(encoding="utf-8") as source, subset.open("w", encoding="utf-8") as out:
        for number, line in enumerate(source):
            if number < CLUSTER_N:
                continue  # not imported yet
            if number >= CLUSTER_N + count:
                break
            out.write(line)
    imported = min(count, max(0, IMPORT_N - CLUSTER_N))
    if not imported:
        return []
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdout_isatty=False,
                      vars={"REDIS_URL": cluster.url, "CRANE_DATA_DIR": str(data_dir), "CRANE_REDIS_REPLICAS": "1"})
    started = time.perf_counter()
    status = crane_verify(["import", str(subset)], env)
    elapsed = time.perf_counter() - started
    assert status == 0, env.stderr.getvalue()[-2000:]
    return [f"`crane-verify import` of {imported:,} more (every signature checked, REDIS_URL=redis+cluster://..., "
            f"CRANE_REDIS_REPLICAS=1): {elapsed:.1f} s, **{imported / elapsed:,.0f} certificates/s**.", ""]


# --- verify through nginx ---------------------------------------------------------------------------------

@dataclass
class Node:
    process: subprocess.Popen
    url: str


@contextlib.contextmanager
def service_node(env: dict[str, str], metrics_dir: Path) -> Iterator[Node]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--bind", f"fd://{listener.fileno()}",
         "verify_api.wsgi:app"],
        env={**os.environ, "CRANE_WORKERS": "2", "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
             **env}, pass_fds=(listener.fileno(),), start_new_session=True, cwd=ROOT)
    listener.close()
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(url + "/readyz", timeout=2).status == 200:  # noqa: S310
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("service node did not become ready")
            time.sleep(0.2)
        yield Node(process, url)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def group_cpu(pgids: list[int]) -> float:
    """CPU seconds (user + system) used so far by every live process in these process groups."""
    wanted, total = set(pgids), 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in wanted:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def wrk_script(path: Path, texts: list[str]) -> Path:
    bodies = ",\n".join(json.dumps(json.dumps({"qr": t})) for t in texts)
    path.write_text("wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
                    f"local bodies = {{\n{bodies}\n}}\nlocal i = 0\n"
                    "request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n",
                    encoding="utf-8")
    return path


def wrk(url: str, script: Path, seconds: int) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s", str(script),
                          url + "/api/v1/verify"], capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "requests": requests,
            "p50_ms": _latency(out, "50%"), "p99_ms": _latency(out, "99%"),
            "non_2xx": int(errors.group(1)) if errors else 0,
            "wrk_cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}


def _latency(out: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", out).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def measured(url: str, script: Path, groups: dict[str, list[int]]) -> dict[str, float]:
    wrk(url, script, 2)  # warm up: caches, connections, gunicorn workers
    cpu_before = {name: group_cpu(pgids) for name, pgids in groups.items()}
    result = wrk(url, script, WRK_SECONDS)
    for name, pgids in groups.items():
        result[f"{name}_ms"] = (group_cpu(pgids) - cpu_before[name]) * 1000 / result["requests"]
    result["wrk_ms"] = result["wrk_cpu"] * 1000 / result["requests"]
    return result


def run_verify(cluster: LocalCluster, data_dir: Path, path: Path, work: Path) -> tuple[list[str], dict[str, float]]:
    # more distinct texts than a worker's signature cache holds (8,192): every request checks a signature
    texts = [qr for _, qr in lines(path, CLUSTER_N)][:: max(1, CLUSTER_N // VERIFY_TEXTS)][:VERIFY_TEXTS]
    script = wrk_script(work / "verify.lua", texts)
    env = {"REDIS_URL": cluster.url, "CRANE_DATA_DIR": str(data_dir), "CRANE_RATE_LIMIT": "off",
           "CRANE_TRUSTED_PROXIES": "127.0.0.1/32"}
    redis_groups = [n.pid for n in cluster.running if n.pid]
    with service_node(env, work / "metrics-a") as a, service_node(env, work / "metrics-b") as b:
        check = json.loads(urllib.request.urlopen(urllib.request.Request(  # noqa: S310
            a.url + "/api/v1/verify", data=json.dumps({"qr": texts[0]}).encode(),
            headers={"Content-Type": "application/json"})).read())
        assert check["verdict"]["ok"] and check["status"]["source"] == "registry", check
        direct = measured(a.url, script, {"node": [a.process.pid], "redis": redis_groups})
        with LocalNginx(work / "nginx-1", [a.url.split("://")[1]]) as nginx:
            one = measured(nginx.url, script, {"node": [a.process.pid], "nginx": [nginx.pid],
                                               "redis": redis_groups})
        with LocalNginx(work / "nginx-2", [a.url.split("://")[1], b.url.split("://")[1]]) as nginx:
            two = measured(nginx.url, script, {"node": [a.process.pid, b.process.pid], "nginx": [nginx.pid],
                                               "redis": redis_groups})

    def row(name: str, r: dict[str, float]) -> str:
        return (f"| {name} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['non_2xx']} | "
                f"{r['node_ms']:.2f} | {r.get('nginx_ms', 0):.2f} | {r['redis_ms']:.2f} | {r['wrk_ms']:.2f} |")

    rows = [
        "### POST /api/v1/verify on the cluster: one node direct (baseline), nginx + 1 node, nginx + 2 nodes",
        "",
        f"{len(texts):,} distinct imported QR texts round-robin (every request a signature check); wrk 2 threads 32 connections {WRK_SECONDS} s; each node "
        "gunicorn 2 sync workers; nginx 1 worker; everything on this machine's "
        f"{os.cpu_count()} cores. CPU columns: milliseconds of CPU per request.",
        "",
        "| setup | requests/s | p50 ms | p99 ms | non-2xx | service nodes CPU | nginx CPU | 6 redis-servers CPU "
        "| wrk CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        row("1 node, no nginx (baseline)", direct),
        row("nginx + 1 node", one),
        row("nginx + 2 nodes", two),
        "",
        f"Two nodes give {two['rps'] / one['rps']:.2f}x one node's throughput here: the cores are shared by "
        "everything, so the useful figure is the cost per request. A service node spends "
        f"**{two['node_ms']:.2f} ms CPU per verify**, nginx {two['nginx_ms']:.2f} ms, the cluster "
        f"{two['redis_ms']:.2f} ms (one read per scan, on one master); one core of service node serves "
        f"about {1000 / two['node_ms']:,.0f} verifies/s.",
        "",
    ]
    return rows, {"node_ms": two["node_ms"], "nginx_ms": two["nginx_ms"], "redis_ms": two["redis_ms"],
                  "rps_one": one["rps"], "rps_two": two["rps"]}


def run() -> list[str]:
    for tool in ("wrk", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (make bench installs wrk, redis-tools and nginx as root)")
    with tempfile.TemporaryDirectory(prefix="crane-bench-cluster-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        demo.ensure_keys(data_dir)
        path = work / "signed.jsonl"
        print(f"signing {IMPORT_N:,} certificates in {os.cpu_count()} processes ...", flush=True)
        sign_s = sign_all(data_dir, path)
        verify_us = verify_sample(data_dir, path)
        print("importing into one redis-server ...", flush=True)
        single_rows, single = run_single(work, path)
        print("importing into the cluster ...", flush=True)
        with LocalCluster(work / "cluster", binary=REDIS_SERVER) as cluster:
            _, clustered = run_cluster_import(cluster, path)
            cli_rows = run_cli_import(cluster, data_dir, path, work)
            print("verify through nginx ...", flush=True)
            verify_rows, verified = run_verify(cluster, data_dir, path, work)
            print("baseline: redis-benchmark on the cluster ...", flush=True)
            cluster_rows = cluster_import_rows(cluster, clustered)
        figures = {**single, **clustered, **verified, "verify_us": verify_us}
        print("figures: " + json.dumps({k: round(v, 3) for k, v in figures.items()}), flush=True)
        return [
            "## Scale-out: Redis Cluster and several service nodes",
            "",
            f"Signing the {IMPORT_N:,} test certificates (Ed25519, {os.cpu_count()} processes): {sign_s:.0f} s, "
            f"{IMPORT_N / sign_s:,.0f}/s; not part of the rates below. What each figure measures: "
            "the docstring of bench/cluster.py.",
            "",
            *single_rows,
            *cluster_rows,
            f"The import rates are the store path (`Store.register_many`, JSON lines parsed, no signature check). "
            f"`crane-verify import` also checks each signature first: {verify_us:.0f} µs per certificate here "
            "(sample of 2,000, all valid), one core.",
            "",
            *cli_rows,
            *verify_rows,
        ]


if __name__ == "__main__":
    print("\n".join(run()))
