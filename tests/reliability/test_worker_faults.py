"""SIGKILL of a gunicorn worker under load loses no request beyond those in flight at the kill.

Load: CLIENTS threads, each with one request outstanding at a time (so at most CLIENTS are in flight),
POSTing demo QR codes to /api/v1/verify of `crane-verify serve --demo --workers 3`. One worker is
killed with SIGKILL mid-load, twice. gunicorn's master replaces it; the sync workers share one
listening socket, so connections waiting in its backlog go to the survivors. A request fails only
when the killed worker had already accepted it: at most one per worker with sync workers, and in any
case no more than the clients in flight.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .live import LiveService

CLIENTS = 12
WORKERS = 3
KILLS = 2


@pytest.mark.slow
def test_killing_a_worker_under_load_loses_only_requests_in_flight(serve):
    service = serve("--demo", "--workers", str(WORKERS))
    texts = [c["qr_text"] for c in service.manifest()["certificates"] if "qr_text" in c]
    outcomes: list[tuple[float, int, str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        n = number
        while not stop.is_set():
            started = time.monotonic()
            try:
                status, _, answer = service.json("POST", "/api/v1/verify", {"qr": texts[n % len(texts)]}, timeout=10)
                problem = "" if status == 200 and answer["signature"]["result"] == "valid" else f"status {status}"
            except (OSError, http.client.HTTPException) as exc:   # e.g. a response cut off by the kill
                status, problem = 0, type(exc).__name__
            with lock:
                outcomes.append((started, status, problem))
            n += CLIENTS

    kills: list[tuple[int, float]] = []
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client, n) for n in range(CLIENTS)]
        time.sleep(1.0)
        for _ in range(KILLS):
            workers = service.wait_for_workers(WORKERS)
            victim = workers[0]
            os.kill(victim, signal.SIGKILL)
            kills.append((victim, time.monotonic()))
            service.wait_for_workers(WORKERS, exclude={victim})
            replaced_at = time.monotonic()
            time.sleep(1.0)
        stop.set()
        for future in futures:
            future.result()

    failures = [o for o in outcomes if o[2]]
    after_last_kill = [o for o in outcomes if o[0] > replaced_at]
    summary = f"{len(outcomes)} requests, {len(failures)} failed ({[f[2] for f in failures]}), kills {kills}"
    assert len(failures) <= KILLS * CLIENTS, summary
    assert all(f[1] == 0 for f in failures), f"a worker's death showed as an HTTP error: {summary}"
    # every failure was a request under way when a worker died
    for started, _, _ in failures:
        assert any(started <= killed_at + 0.05 for _, killed_at in kills), summary
    # once the master has replaced the worker, everything is answered again
    assert len(after_last_kill) > 20 and not any(o[2] for o in after_last_kill), summary
    assert set(service.workers()).isdisjoint(victim for victim, _ in kills)
    print(summary)


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("wrk"), reason="wrk is not installed (apt-get install wrk)")
def test_killing_a_worker_under_wrk_load(serve, tmp_path: Path):
    """The same under wrk: errors (socket errors and non-2xx answers) stay within wrk's connections."""
    connections = 16
    service: LiveService = serve("--demo", "--workers", str(WORKERS))
    text = next(c["qr_text"] for c in service.manifest()["certificates"] if c["expected_status"] == "valid")
    script = tmp_path / "verify.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f'wrk.body = \'{{"qr": "{text}"}}\'\n', "utf-8")
    run = subprocess.Popen(["wrk", "-t2", f"-c{connections}", "-d4s", "--timeout", "5s", "-s", str(script),
                            service.url + "/api/v1/verify"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    try:
        time.sleep(1.5)
        victim = service.wait_for_workers(WORKERS)[0]
        os.kill(victim, signal.SIGKILL)
        service.wait_for_workers(WORKERS, exclude={victim})
        out, _ = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    assert requests > 500, out
    assert errors <= connections, out
    print(f"wrk: {requests} requests, {errors} errors with one worker killed")


@pytest.mark.slow
def test_slow_clients_cannot_hold_the_workers(serve):
    """Twice as many connections as workers, each sending half a request and then nothing. gunicorn's
    sync worker would wait on each until the master kills it (30 s), then the next; with a read timeout
    (here 2 s) the service answers others within seconds and drops the idle connections."""
    import socket

    service: LiveService = serve("--workers", "2", CRANE_READ_TIMEOUT="2")
    idle = [socket.create_connection(service.address, timeout=20) for _ in range(4)]
    try:
        for sock in idle:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")   # the headers never end
        started = time.monotonic()
        status, _, _ = service.json("GET", "/healthz", timeout=30)
        waited = time.monotonic() - started
        assert status == 200 and waited < 12, f"answered after {waited:.1f}s"
        assert all(sock.recv(1024) == b"" for sock in idle)       # each closed by the server
        assert time.monotonic() - started < 15
    finally:
        for sock in idle:
            sock.close()
