"""Answers are reused per QR text and registry status: a status change is answered by the very next scan,
and a reused answer reads exactly as a freshly built one (same fields, same order, its own checked_at)."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.reliability.live import bearer, quoted, signed_certificate
from verify_api.resolve import Resolution


def _verify(client, qr: str) -> tuple[bytes, dict]:
    response = client.post("/api/v1/verify", json={"qr": qr})
    assert response.status_code == 200
    return response.get_data(), response.get_json()


def test_a_status_change_is_answered_by_the_next_scan(client, token, demo_keys):
    raw, qr = signed_certificate(demo_keys, 7500)
    assert client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr},
                       headers=bearer(token)).status_code == 201
    status_url = f"/api/v1/issuer/certificates/{quoted(raw['registration_no'])}/status"
    seen = []
    for state in ("suspended", "valid", "revoked"):
        for _ in range(3):   # the first scan builds the answer, the next ones reuse it
            seen.append(_verify(client, qr)[1]["status"]["state"])
        assert client.post(status_url, json={"state": state, "reason": f"检查 {state}"},
                           headers=bearer(token)).status_code == 200
    seen.append(_verify(client, qr)[1]["status"]["state"])
    assert seen == ["valid"] * 3 + ["suspended"] * 3 + ["valid"] * 3 + ["revoked"]
    assert _verify(client, qr)[1]["status"]["reason"] == "检查 revoked"


def test_a_reused_answer_reads_as_a_fresh_one(app, client, manifest):
    cert = next(c for c in manifest["certificates"] if c.get("qr_text") and c["expected_status"] == "valid")
    first_raw, first = _verify(client, cert["qr_text"])
    again_raw, again = _verify(client, cert["qr_text"])
    assert list(first) == list(again) == ["verdict", "signature", "status", "certificate", "checked_at"]
    assert {**first, "checked_at": ""} == {**again, "checked_at": ""}
    # the bytes are what the full path would send for the same answer at the same time
    services = app.extensions["crane"]
    with app.app_context():
        from verify_api.resolve import resolve
        resolution = resolve(cert["qr_text"], services.trust.current(), services.store,
                             services.config.now() + timedelta(seconds=1))
    fresh = Resolution(resolution.answer)   # no reused bytes: built from the answer itself
    assert resolution.json() == fresh.json()
    assert json.loads(resolution.json()) == json.loads(json.dumps(resolution.answer.to_json()))
    assert first_raw.endswith(b"}\n") and again_raw.endswith(b"}\n")
