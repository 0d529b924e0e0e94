"""Redis down: the service keeps answering truthfully over real HTTP, and recovers by itself.

`crane-verify serve --demo` under gunicorn, REDIS_URL at a redis-server of the test's own, with the
public rate limit on (its counters live in Redis too). While Redis is dead (SIGKILL) or hung (SIGSTOP):
`/api/v1/verify` answers 200 with the signature checked, status `unknown` and `Retry-After`; lookups,
the status feed, the issuer API and `/readyz` answer 503 with `Retry-After`; nothing is ever a 500.
When Redis is back the service answers from it again within 5 seconds, without a restart.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from .conftest import make_token
from .live import LiveService, bearer, quoted

RECOVERY_LIMIT = 5.0
RATE_LIMIT = "100000/minute"


def _certificates(service: LiveService) -> tuple[dict, dict]:
    certificates = service.manifest()["certificates"]
    valid = next(c for c in certificates if c["expected_status"] == "valid" and c["registration_no"].startswith("辽A"))
    paper = next(c for c in certificates if c["expected_status"] == "paper_legacy")
    return valid, paper


def _outage_checks(service: LiveService, valid: dict, paper: dict, token: str, budget: float) -> list[str]:
    """Every kind of request once; returns what went wrong (empty when the outage is handled)."""
    problems: list[str] = []
    reg, record_no = quoted(valid["registration_no"]), quoted(valid["record_no"])
    payload = valid["qr_text"].rsplit("/", 1)[1]

    def timed(method, path, body=None, headers=None):
        started = time.monotonic()
        status, response_headers, answer = service.json(method, path, body, headers, timeout=budget + 5)
        elapsed = time.monotonic() - started
        if status >= 500 and status != 503:
            problems.append(f"{method} {path}: {status}")
        if elapsed > budget:
            problems.append(f"{method} {path}: took {elapsed:.2f}s")
        return status, response_headers, answer

    for method, path, body in (("POST", "/api/v1/verify", {"qr": valid["qr_text"]}),
                               ("GET", f"/api/v1/verify?qr={quoted(valid['qr_text'])}", None)):
        status, headers, answer = timed(method, path, body)
        if status != 200 or answer is None:
            problems.append(f"{method} verify during the outage: {status}")
            continue
        if answer["signature"]["result"] != "valid":   # checked against the trust list, no store needed
            problems.append(f"signature not checked: {answer['signature']}")
        if answer["status"]["state"] != "unknown" or answer["verdict"]["ok"]:
            problems.append(f"status during the outage: {answer['status']} {answer['verdict']}")
        if headers.get("retry-after") != "5":
            problems.append(f"verify without Retry-After: {headers}")
        if answer["certificate"]["registration_no"] != valid["registration_no"]:
            problems.append("the signed fields are not shown")
    tampered = valid["qr_text"][:-10] + ("A" if valid["qr_text"][-10] != "A" else "B") + valid["qr_text"][-9:]
    status, _, answer = timed("POST", "/api/v1/verify", {"qr": tampered})
    if status != 200 or answer["signature"]["result"] == "valid" or answer["verdict"]["ok"]:
        problems.append(f"a tampered code during the outage: {status} {answer and answer['signature']}")
    status, _, answer = timed("POST", "/api/v1/verify", {"qr": "hello"})
    if status != 200 or answer["signature"]["result"] != "malformed":
        problems.append(f"text that is not ours during the outage: {status}")

    unavailable = [("GET", f"/api/v1/certificates/{reg}?record_no={record_no}", None, None),
                   ("GET", f"/api/v1/certificates/{quoted(paper['registration_no'])}?record_no="
                           f"{quoted(paper['record_no'])}", None, None),
                   ("GET", "/readyz", None, None),
                   ("GET", "/api/v1/status-feed", None, None),
                   ("GET", f"/lookup?registration_no={reg}&record_no={record_no}", None, None),
                   ("GET", "/api/v1/issuer/audit", None, bearer(token)),
                   ("POST", f"/api/v1/issuer/certificates/{reg}/status", {"state": "suspended", "reason": "x"},
                    bearer(token))]
    for method, path, body, headers in unavailable:
        status, response_headers, _ = timed(method, path, body, headers)
        if status != 503 or response_headers.get("retry-after") != "5":
            problems.append(f"{method} {path}: {status}, Retry-After {response_headers.get('retry-after')}")
    for path in ("/healthz", "/api/v1/trust-list", "/openapi.json", "/metrics", f"/V/{payload}", "/"):
        status, _, _ = timed("GET", path)
        if status != 200:
            problems.append(f"GET {path} during the outage: {status}")
    return problems


def _healthy(service: LiveService, valid: dict) -> bool:
    try:
        ready = service.json("GET", "/readyz", timeout=5)[0] == 200
        status, _, answer = service.json("POST", "/api/v1/verify", {"qr": valid["qr_text"]}, timeout=5)
        lookup = service.json("GET", f"/api/v1/certificates/{quoted(valid['registration_no'])}"
                                     f"?record_no={quoted(valid['record_no'])}", timeout=5)[0]
    except OSError:
        return False
    return ready and status == 200 and answer["status"]["state"] == "valid" and lookup == 200


def _recovery_time(service: LiveService, valid: dict, back_at: float) -> float:
    """Seconds from Redis answering again to the first of 10 healthy rounds in a row (both workers)."""
    streak_start = None
    streak = 0
    while time.monotonic() - back_at < 30:
        if _healthy(service, valid):
            streak_start = streak_start or time.monotonic()
            streak += 1
            if streak >= 10:
                return streak_start - back_at
        else:
            streak_start, streak = None, 0
            time.sleep(0.05)
    raise AssertionError("the service did not recover within 30 s of Redis coming back")


@pytest.mark.slow
def test_redis_killed_answers_stay_truthful_and_the_service_recovers(serve, fresh_redis_server):
    service = serve("--demo", CRANE_RATE_LIMIT=RATE_LIMIT)
    _, token = make_token(fresh_redis_server)
    valid, paper = _certificates(service)
    assert _healthy(service, valid)

    fresh_redis_server.kill()
    problems = []
    for _ in range(6):   # enough rounds for both gunicorn workers to meet the outage
        problems += _outage_checks(service, valid, paper, token, budget=1.0)
    assert not problems, problems

    fresh_redis_server.start()
    back_at = time.monotonic()
    recovery = _recovery_time(service, valid, back_at)
    assert recovery < RECOVERY_LIMIT, f"recovered after {recovery:.2f}s"
    assert service.process.poll() is None
    assert "Traceback" not in service.output(), service.output()[-3000:]
    print(f"recovered {recovery:.3f}s after redis-server answered again")


@pytest.mark.slow
def test_redis_hung_answers_within_the_store_timeout(serve, fresh_redis_server):
    """A frozen Redis (SIGSTOP: connections open, nothing answers) costs a request its timeout, no more."""
    service = serve("--demo", CRANE_RATE_LIMIT=RATE_LIMIT)
    _, token = make_token(fresh_redis_server)
    valid, paper = _certificates(service)
    assert _healthy(service, valid)

    os.kill(fresh_redis_server.pid, signal.SIGSTOP)
    try:
        # the store timeout is 1 s; the rate limiter's counters and the token check may each wait once
        problems = _outage_checks(service, valid, paper, token, budget=4.0)
    finally:
        os.kill(fresh_redis_server.pid, signal.SIGCONT)
    assert not problems, problems
    back_at = time.monotonic()
    recovery = _recovery_time(service, valid, back_at)
    assert recovery < RECOVERY_LIMIT, f"recovered after {recovery:.2f}s"
    print(f"recovered {recovery:.3f}s after redis-server was resumed")
