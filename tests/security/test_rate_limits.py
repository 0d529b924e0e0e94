"""Rate limits per client, not per endpoint: one budget for the public pages and verification, failed
authentications counted per address whatever token ids a guesser makes up, refused writes limited.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from tests.reliability.live import bearer, quoted, signed_certificate
from tests.verify_api.conftest import by_state

CLIENT = {"REMOTE_ADDR": "198.51.100.20"}
OTHER = {"REMOTE_ADDR": "198.51.100.21"}


def test_public_pages_and_verification_share_one_budget_per_client(make_app, manifest):
    app = make_app(rate_limit="6/minute")
    client = app.test_client()
    cert = by_state(manifest, "valid")[0]
    qr, reg, record_no = cert["qr_text"], cert["registration_no"], cert["record_no"]
    spread = [lambda: client.get(f"/V/{qr.rsplit('/', 1)[1]}", environ_base=CLIENT),
              lambda: client.post("/api/v1/verify", json={"qr": qr}, environ_base=CLIENT),
              lambda: client.get(f"/api/v1/verify?qr={quoted(qr)}", environ_base=CLIENT),
              lambda: client.get(f"/api/v1/certificates/{quoted(reg)}?record_no={quoted(record_no)}",
                                 environ_base=CLIENT),
              lambda: client.get(f"/lookup?registration_no={quoted(reg)}&record_no={quoted(record_no)}",
                                 environ_base=CLIENT),
              lambda: client.get("/", environ_base=CLIENT)]
    assert [call().status_code for call in spread] == [200] * 6
    # the signed offline data, the phone app's files and static files are not counted
    for path in ("/api/v1/trust-list", "/api/v1/status-feed?since=0", "/scan/", "/static/style.css"):
        assert client.get(path, environ_base=CLIENT).status_code != 429, path
    # six requests over six routes used the whole budget: every one of them is refused now
    assert {call().status_code for call in spread} == {429}
    assert client.get("/api/v1/trust-list", environ_base=CLIENT).status_code == 200
    # another client has its own budget
    assert spread and client.post("/api/v1/verify", json={"qr": qr}, environ_base=OTHER).status_code == 200


def test_guessing_with_fresh_token_ids_is_limited_per_address(make_app, store):
    app = make_app(bad_token_limit="4/minute")   # 4 per token id, 20 per address
    client = app.test_client()
    _, good = app.extensions["crane"].store.create_token("210100", datetime.now(UTC))
    statuses = [client.get("/api/v1/issuer/audit", environ_base=CLIENT,
                           headers=bearer(f"crv_{secrets.token_hex(6)}_{'A' * 43}")).status_code for _ in range(30)]
    assert statuses == [401] * 20 + [429] * 10
    # another address is not affected
    assert client.get("/api/v1/issuer/audit", headers=bearer(good), environ_base=OTHER).status_code == 200


def test_refused_writes_are_rate_limited(make_app, demo_keys, store):
    app = make_app(bad_token_limit="3/minute")
    client = app.test_client()
    services_store = app.extensions["crane"].store
    _, dalian = services_store.create_token("210200", datetime.now(UTC))
    raw, qr = signed_certificate(demo_keys, 7400)   # a Shenyang certificate
    statuses = [client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr},
                            headers=bearer(dalian), environ_base=CLIENT).status_code for _ in range(5)]
    assert statuses == [403] * 3 + [429] * 2
    # each refusal that was let through is in the refusals log; the limited ones never reached the store
    denied = [e for e in services_store.refusals(count=10_000) if e.action == "register"]
    assert len(denied) == 3
