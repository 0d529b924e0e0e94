"""Access to the issuer API: scoped tokens, immediate revocation, constant-time checks, bad-token limits."""

from __future__ import annotations

import inspect
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keys.payload import issue
from keys.record import Record
from tests.reliability.live import SIGNED_AT, LiveService, bearer, quoted, signed_certificate
from verify_api import demo
from verify_api.issuer_token import IssuerToken
from verify_api.store import tokens as token_store

SHENYANG, DALIAN = "210100", "210200"


def _version_2(licence_id: str) -> str:
    return demo.with_version(licence_id, 2)


def _register(client, keys, index: int, city_index: int, token: str) -> tuple[dict, str]:
    raw, qr = signed_certificate(keys, index, city_index)
    response = client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    return raw, qr


def test_a_token_of_one_issuer_cannot_register_or_change_anothers_certificates(client, store, demo_keys):
    _, shenyang = store.create_token(SHENYANG, datetime.now(UTC))
    _, dalian = store.create_token(DALIAN, datetime.now(UTC))
    theirs, their_qr = _register(client, demo_keys, 3001, 1, dalian)       # Dalian's certificate
    reg = quoted(theirs["registration_no"])
    audit_before = len(store.audit(count=10_000))
    refusals_before = len(store.refusals(count=10_000))

    # Shenyang's token against Dalian's certificate, through every issuer endpoint that changes or reads it
    other, other_qr = signed_certificate(demo_keys, 3002, 1)
    correction = dict(theirs, version=2, licence_id=_version_2(theirs["licence_id"]))
    # a correction of B's number that A signs as itself: B's number is outside A's number space (trust list)
    own = dict(signed_certificate(demo_keys, 3003, 0)[0], registration_no=theirs["registration_no"], version=2)
    own["licence_id"] = _version_2(own["licence_id"])
    own_qr = issue(Record.from_json(own), demo_keys.issuers[SHENYANG], "https://verify.example.cn", SIGNED_AT)
    attempts = [
        ("POST", "/api/v1/issuer/certificates", {"record": other, "qr_text": other_qr}),       # register for B
        ("POST", "/api/v1/issuer/certificates", {"record": theirs, "qr_text": their_qr}),      # re-register B's
        ("POST", f"/api/v1/issuer/certificates/{reg}/status", {"state": "revoked", "reason": "x"}),
        ("POST", f"/api/v1/issuer/certificates/{reg}/status", {"state": "suspended", "reason": "x"}),
        ("POST", f"/api/v1/issuer/certificates/{reg}/dismantling", {"completed_at": "2025-09-01T10:00:00+08:00",
                                                                   "notice_no": "辽B-CX-2025-0012"}),
        ("POST", f"/api/v1/issuer/certificates/{reg}/corrections",
         {"record": correction, "qr_text": their_qr, "reason": "x"}),
        ("GET", f"/api/v1/issuer/certificates/{reg}", None),
    ]
    for method, path, body in attempts:
        response = client.open(path, method=method, json=body, headers=bearer(shenyang))
        assert response.status_code == 403, (path, response.get_json())
        assert response.get_json()["code"] == "forbidden"
    refused = client.post(f"/api/v1/issuer/certificates/{reg}/corrections",
                          json={"record": own, "qr_text": own_qr, "reason": "x"}, headers=bearer(shenyang))
    assert refused.status_code == 422 and refused.get_json()["code"] == "number_outside_issuer_space"

    denials = store.refusals(count=10_000)[refusals_before:]
    assert len(denials) == len(attempts)
    assert len(store.audit(count=10_000)) == audit_before  # a refusal is no change: the audit log has none
    assert all(e.actor.startswith(f"issuer:{SHENYANG}:") for e in denials)
    assert {e.registration_no for e in denials} == {theirs["registration_no"], other["registration_no"]}
    stored = store.get(theirs["registration_no"])
    assert stored.state.value == "valid" and stored.version == 1 and stored.issuer == DALIAN
    assert len(store.history(theirs["registration_no"])) == 1
    assert store.get(other["registration_no"]) is None
    # one issuer's audit view holds its own changes; the attempts others made on its certificates are in
    # its refusals view
    assert client.get("/api/v1/issuer/audit", headers=bearer(shenyang)).get_json()["entries"] == []  # no change
    own_tries = client.get("/api/v1/issuer/refusals", headers=bearer(shenyang)).get_json()["entries"]
    assert len(own_tries) == len(attempts) and all(e["actor"].startswith(f"issuer:{SHENYANG}:") for e in own_tries)
    mine = client.get("/api/v1/issuer/audit", headers=bearer(dalian)).get_json()["entries"]
    assert [e["action"] for e in mine] == ["register"] and mine[0]["actor"].startswith(f"issuer:{DALIAN}:")
    tried = client.get("/api/v1/issuer/refusals", headers=bearer(dalian)).get_json()["entries"]
    assert {e["action"] for e in tried} <= {"register", "status", "dismantling", "correction", "read"}
    assert [e["registration_no"] for e in tried].count(theirs["registration_no"]) == len(attempts) - 1
    assert all(e["owner"] == DALIAN and e["actor"].startswith(f"issuer:{SHENYANG}:") for e in tried)


@pytest.mark.slow
def test_a_revoked_token_stops_working_at_once_on_every_worker(redis_url, demo_keys_dir, tmp_path: Path):
    """`crane-verify token revoke` against a running multi-worker service: the very next request is refused."""
    data_dir = tmp_path / "data"
    shutil.copytree(demo_keys_dir, data_dir)
    env = {**os.environ, "REDIS_URL": redis_url, "CRANE_DATA_DIR": str(data_dir)}
    cli = str(Path(sys.executable).with_name("crane-verify"))
    created = subprocess.run([cli, "token", "create", "--issuer", SHENYANG], env=env, capture_output=True,
                             text=True, check=True).stdout.splitlines()
    token = created[-1]
    token_id = token.split("_")[1]
    with LiveService(data_dir, args=("--workers", "3"), env={"REDIS_URL": redis_url}) as service:
        before = [service.json("GET", "/api/v1/issuer/audit", headers=bearer(token))[0] for _ in range(12)]
        assert before == [200] * 12
        subprocess.run([cli, "token", "revoke", token_id], env=env, capture_output=True, text=True, check=True)
        # 20: the bad-token limit per minute, after which the answer is 429 instead
        after = [service.json("GET", "/api/v1/issuer/audit", headers=bearer(token))[0] for _ in range(20)]
        assert after == [401] * 20


def test_token_checks_do_the_same_work_whatever_is_wrong(store, monkeypatch):
    """Structural: every check hashes the presented secret once and compares digests with hmac.compare_digest.

    An unknown token id is compared against a dummy digest, so it costs what a wrong secret costs, and a
    wrong length cannot show: what is compared are two SHA-256 hex digests of equal length.
    """
    source = inspect.getsource(token_store.Tokens.principal)  # check_token and the other roles go through it
    assert "hmac.compare_digest" in source and "==" not in source.replace("!=", "")
    token_id, token = store.create_token(SHENYANG, datetime.now(UTC))
    secret = token.split("_", 2)[2]
    calls: list[tuple[str, int, int]] = []
    real_sha, real_compare = IssuerToken.digest, token_store.hmac.compare_digest

    def counting_sha(self):
        calls.append(("sha", len(self.secret), 0))
        return real_sha(self)

    class CountingHmac:
        @staticmethod
        def compare_digest(a, b):
            calls.append(("compare", len(a), len(b)))
            return real_compare(a, b)

    monkeypatch.setattr(IssuerToken, "digest", counting_sha)
    monkeypatch.setattr(token_store, "hmac", CountingHmac)
    cases = {
        "right": token,
        "wrong secret, same length": f"crv_{token_id}_{'A' * len(secret)}",
        "wrong secret, other length": f"crv_{token_id}_short",
        "unknown id": f"crv_{'0' * 12}_{secret}",
    }
    for label, presented in cases.items():
        calls.clear()
        found = store.check_token(presented, datetime.now(UTC))
        assert (found is not None) is (label == "right"), label
        kinds = [c[0] for c in calls]
        assert kinds == ["sha", "compare"], (label, calls)
        assert calls[1][1:] == (64, 64), (label, calls)


@pytest.mark.slow
def test_token_check_timing_does_not_depend_on_what_is_wrong(store):
    """Statistical, with generous bounds for a noisy 2-core machine: the medians of many interleaved checks
    of a wrong secret, a wrong-length secret and an unknown id stay close (each is one Redis read, one hash
    and one digest comparison)."""
    token_id, token = store.create_token(SHENYANG, datetime.now(UTC))
    secret = token.split("_", 2)[2]
    cases = {"wrong secret": f"crv_{token_id}_{'A' * len(secret)}",
             "wrong length": f"crv_{token_id}_{'A' * 7}",
             "unknown id": f"crv_{'0' * 12}_{'A' * len(secret)}"}
    samples: dict[str, list[int]] = {label: [] for label in cases}
    for _ in range(200):
        store.check_token(token, datetime.now(UTC))  # warm up connections and caches
    for _ in range(1500):
        for label, presented in cases.items():
            started = time.perf_counter_ns()
            store.check_token(presented, datetime.now(UTC))
            samples[label].append(time.perf_counter_ns() - started)
    medians = {label: statistics.median(values) for label, values in samples.items()}
    low, high = min(medians.values()), max(medians.values())
    assert high <= low * 1.5 + 20_000, medians  # within 50 % (+20 µs of scheduling noise)


def test_repeated_bad_tokens_are_rate_limited_while_a_good_token_keeps_working(make_app, store):
    app = make_app(bad_token_limit="20/minute")
    client = app.test_client()
    services_store = app.extensions["crane"].store
    good_id, good = services_store.create_token(SHENYANG, datetime.now(UTC))
    _, neighbour = services_store.create_token(DALIAN, datetime.now(UTC))
    attacker = {"REMOTE_ADDR": "198.51.100.7"}
    owner = {"REMOTE_ADDR": "203.0.113.5"}
    guess = f"crv_{good_id}_{'A' * 43}"   # the right token id (it shows in audit actors), a guessed secret

    statuses = []
    for _ in range(30):
        response = client.get("/api/v1/issuer/audit", headers=bearer(guess), environ_base=attacker)
        statuses.append(response.status_code)
        # the owner of the token keeps working from its own address, and its calls are never counted
        assert client.get("/api/v1/issuer/audit", headers=bearer(good), environ_base=owner).status_code == 200
        # another authority's token from the attacker's own address (one NAT) keeps working too
        assert client.get("/api/v1/issuer/audit", headers=bearer(neighbour), environ_base=attacker).status_code == 200
    assert statuses == [401] * 20 + [429] * 10
    limited = client.get("/api/v1/issuer/audit", headers=bearer(guess), environ_base=attacker)
    assert limited.status_code == 429 and limited.get_json()["code"] == "too_many_requests"
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    # no oracle: from the limited client, even the right secret for that token id is not tried
    assert client.get("/api/v1/issuer/audit", headers=bearer(good), environ_base=attacker).status_code == 429
    # requests with no token, or garbage, are limited under one key per address
    garbage = [client.get("/api/v1/issuer/audit", headers={"Authorization": f"Bearer x{n}"},
                          environ_base=attacker).status_code for n in range(25)]
    assert garbage == [401] * 20 + [429] * 5
    # a 200 never carries Retry-After: that header means "come back later" (store down, or limited)
    ok = client.get("/api/v1/issuer/audit", headers=bearer(good), environ_base=owner)
    assert ok.status_code == 200 and "Retry-After" not in ok.headers
