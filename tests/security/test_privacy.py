"""Personal data and logs: masked in every public answer, scan logs dropped after the retention, nothing
personal in the application log, and an audit stream that only grows.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.reliability.live import LiveService, bearer, quoted, signed_certificate
from verify_api import store as store_module
from verify_api.config import Config
from verify_api.scanlog import ScanLog

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
PLANTED_PHONE, PLANTED_ID, PLANTED_LANDLINE = "13912345678", "11010119900307123X", "024-23456789"


def _personal_values(store, registration_numbers) -> set[str]:
    """Every full personal value the registry holds for these certificates (engineers' names and phones)."""
    values = {PLANTED_PHONE, PLANTED_ID, PLANTED_LANDLINE}
    for reg in registration_numbers:
        stored = store.get(reg)
        if stored is None:
            continue
        supervisor = stored.record.supervisor
        values |= {v for v in (supervisor.engineer, supervisor.phone) if v} if supervisor else set()
    return values


def _leaks(text: str, personal: set[str]) -> list[str]:
    found = [value for value in personal if value in text]
    found += [f"mobile {m}" for m in MOBILE.findall(text)]
    found += [f"id {m}" for m in ID_NUMBER.findall(text) if not _is_credit_code_context(text, m)]
    return found


def _is_credit_code_context(text: str, match: str) -> bool:
    # unified social credit codes of companies are public registration data; an all-digit one can look
    # like an ID number, so one that sits in a credit_code field is not a leak
    return f'"credit_code": "{match}"' in text or f'"credit_code":"{match}"' in text


def test_every_public_answer_of_the_demo_is_masked(client, manifest, store, token, demo_keys):
    # a certificate carrying personal data in free text, and a status reason with some too
    raw, qr = signed_certificate(demo_keys, 7001)
    raw["project"]["address"] += f"（联系人电话{PLANTED_PHONE}，固话{PLANTED_LANDLINE}）"
    raw["inspection"]["report_no"] = f"LJJ-{PLANTED_ID}"
    assert client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr},
                       headers=bearer(token)).status_code == 201
    reg = raw["registration_no"]
    reason = f"群众举报，联系人手机{PLANTED_PHONE}，身份证号{PLANTED_ID}"
    assert client.post(f"/api/v1/issuer/certificates/{quoted(reg)}/status", json={"state": "suspended", "reason": reason},
                       headers=bearer(token)).status_code == 200
    certificates = [*manifest["certificates"], {"registration_no": reg, "record_no": raw["equipment"]["record_no"],
                                                "qr_text": qr, "expected_status": "suspended"}]
    personal = _personal_values(store, [c["registration_no"] for c in certificates])
    assert len(personal) > 10

    responses: dict[str, str] = {}
    for cert in certificates:
        number, record_no = cert["registration_no"], cert["record_no"]
        paths = [f"/api/v1/certificates/{quoted(number)}?record_no={quoted(record_no)}",
                 f"/lookup?registration_no={quoted(number)}&record_no={quoted(record_no)}"]
        if "qr_text" in cert:
            payload = cert["qr_text"].rsplit("/", 1)[1]
            paths += [f"/api/v1/verify?qr={quoted(cert['qr_text'])}", f"/V/{payload}", f"/v/{payload}"]
            responses[f"POST verify {number}"] = client.post("/api/v1/verify", json={"qr": cert["qr_text"]}).get_data(
                as_text=True)
        licence_id = store.get(number).record.licence_id
        if licence_id:
            paths.append(f"/api/v1/verify?qr={quoted(licence_id)}")
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            responses[path] = response.get_data(as_text=True)
    cursor = "0"
    while True:
        page = client.get("/api/v1/status-feed", query_string={"since": cursor, "limit": 20})
        responses[f"feed {cursor}"] = page.get_data(as_text=True)
        body = page.get_json()["page"]
        if not body["more"]:
            break
        cursor = body["next"]
    for path in ("/", "/api/v1/trust-list", "/openapi.json", "/lookup", "/healthz", "/readyz"):
        responses[path] = client.get(path).get_data(as_text=True)
    assert len(responses) > 200

    leaks = {where: found for where, text in responses.items()
             if (found := _leaks(text, personal) + _leaks(_unescaped(text), personal))}
    assert not leaks, dict(list(leaks.items())[:5])
    # and the masked forms are what the answers show
    answer = client.post("/api/v1/verify", json={"qr": qr}).get_json()
    assert "139****5678" in answer["certificate"]["project"]["address"]
    assert "110101********123X" in answer["status"]["reason"]
    assert answer["certificate"]["supervisor"]["engineer"].endswith("*")


def _unescaped(text: str) -> str:
    """JSON may escape characters; HTML may entity-encode them: look at the plain text too."""
    import html

    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        return html.unescape(text)


# --- the scan log: raw QR texts and client addresses, for the retention period only -------------------

def test_retention_defaults_to_180_days_and_is_configurable():
    assert Config().retention_days == 180
    assert Config.from_env({}).retention_days == 180
    assert Config.from_env({"CRANE_LOG_RETENTION_DAYS": "365"}).retention_days == 365


def test_scan_log_entries_are_dropped_after_the_retention(tmp_path: Path):
    log = ScanLog(tmp_path / "scanlog", retention_days=180)
    start = datetime(2026, 1, 1, 8, tzinfo=UTC)
    for day in range(0, 400, 7):
        log.append(f"HTTPS://X/V/DAY{day}", f"203.0.113.{day % 250}", start + timedelta(days=day))
    now = start + timedelta(days=399)
    log.prune(now)
    kept = log.entries()
    assert kept, "the recent entries stay"
    oldest = min(datetime.fromisoformat(e["at"]) for e in kept)
    # whole days are dropped: nothing older than the retention plus the day it was written in
    assert now - oldest <= timedelta(days=181), oldest
    assert all(now - datetime.fromisoformat(e["at"]) <= timedelta(days=181) for e in kept)
    assert {p.stem for p in (tmp_path / "scanlog").glob("*.jsonl")} == {
        datetime.fromisoformat(e["at"]).date().isoformat() for e in kept}
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in (tmp_path / "scanlog").glob("*.jsonl"))


def test_the_service_logs_scans_with_client_address_and_drops_them_after_the_retention(make_app, manifest, data_dir):
    class Clock:
        moment = datetime(2026, 3, 1, 10, tzinfo=UTC)

        def __call__(self):
            return self.moment

    clock = Clock()
    import ipaddress

    app = make_app(now=clock, retention_days=180, trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    client = app.test_client()
    text = next(c["qr_text"] for c in manifest["certificates"] if "qr_text" in c)
    client.post("/api/v1/verify", json={"qr": text}, headers={"X-Forwarded-For": "198.51.100.23"})
    scan_log = app.extensions["crane"].scan_log
    assert [(e["qr"], e["client"]) for e in scan_log.entries()] == [(text, "198.51.100.23")]

    clock.moment += timedelta(days=181)
    client.get("/api/v1/verify", query_string={"qr": "hello"}, headers={"X-Forwarded-For": "198.51.100.24"})
    assert [(e["qr"], e["client"]) for e in scan_log.entries()] == [("hello", "198.51.100.24")]
    # a service started after a quiet spell drops expired files before it serves anything
    clock.moment += timedelta(days=181)
    make_app(now=clock, retention_days=180)
    assert scan_log.entries() == []


# --- the application log ------------------------------------------------------------------------------

@pytest.mark.slow
def test_application_logs_never_hold_raw_payloads_or_client_addresses(redis_url, demo_keys_dir, tmp_path: Path):
    import shutil

    data_dir = tmp_path / "data"
    shutil.copytree(demo_keys_dir, data_dir)
    client_ip = "198.51.100.23"
    env = {"REDIS_URL": redis_url, "CRANE_TRUSTED_PROXIES": "127.0.0.1/32", "CRANE_RATE_LIMIT": "5/minute"}
    with LiveService(data_dir, args=("--demo",), env=env) as service:
        started = len(service.log)
        texts = [c["qr_text"] for c in service.manifest()["certificates"] if "qr_text" in c][:12]
        hostile = [texts[0][:-10] + "AAAAAAAAAA", "HTTPS://X/V/" + "A" * 3000, "1.2.156.3005.2.ZZZ", "\x00garbage"]
        headers = {"X-Forwarded-For": client_ip}
        for text in texts + hostile:
            service.post("/api/v1/verify", {"qr": text}, headers=headers)              # some of these are 429s
            service.get("/api/v1/verify?qr=" + urllib.parse.quote(text), headers=headers)
            service.get("/V/" + urllib.parse.quote(text.rsplit("/", 1)[-1]), headers=headers)
        service.get("/api/v1/verify?qr=" + "A" * 5000, headers=headers)                 # 413
        service.request("POST", "/api/v1/verify", headers={**headers, "Content-Type": "text/plain"})  # 415
        service.get("/api/v1/issuer/audit", headers={**headers, "Authorization": f"Bearer crv_{'a' * 12}_{texts[1]}"})
        service.post("/api/v1/issuer/certificates", {"qr_text": texts[2], "record": {}},
                     headers={**headers, "Authorization": "Bearer nope"})
        service.get("/api/v1/certificates/" + quoted(texts[3]), headers=headers)       # 404
        output = "".join(service.log[started:])
        scan_files = list((data_dir / "scanlog").glob("*.jsonl"))
    assert output.strip(), "the service logged nothing at all"
    payloads = {t.rsplit("/", 1)[-1] for t in texts + hostile if len(t.rsplit("/", 1)[-1]) >= 8}
    assert not [p for p in payloads if p[:24] in output], "a raw QR payload reached the application log"
    assert client_ip not in output and "127.0.0.1" not in output, "a client address reached the application log"
    assert not MOBILE.findall(output)
    # the scan log is where they are kept (for the retention period)
    scanned = "".join(p.read_text("utf-8") for p in scan_files)
    assert texts[0] in scanned and client_ip in scanned


# --- the audit stream ---------------------------------------------------------------------------------

def _stream_id(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def test_the_audit_stream_is_append_only(app, client, store, token, demo_keys):
    raw, qr = signed_certificate(demo_keys, 7101)
    client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=bearer(token))
    client.post(f"/api/v1/issuer/certificates/{quoted(raw['registration_no'])}/status",
                json={"state": "suspended", "reason": "检查"}, headers=bearer(token))
    _, other = store.create_token("210200", datetime.now(UTC))
    before = [e.to_json() for e in store.audit(count=100_000)]
    assert len(before) >= 4
    ids = [e["id"] for e in before]

    # no route of the service takes a method that could delete or edit
    methods = {m for rule in app.url_map.iter_rules() for m in rule.methods}
    assert methods <= {"GET", "HEAD", "OPTIONS", "POST"}, methods

    # every issuer endpoint, every method, with bodies and parameters that name audit entries
    reg = quoted(raw["registration_no"])
    paths = ["/api/v1/issuer/audit", f"/api/v1/issuer/audit/{ids[0]}", "/api/v1/issuer/certificates",
             f"/api/v1/issuer/certificates/{reg}", f"/api/v1/issuer/certificates/{reg}/status",
             f"/api/v1/issuer/certificates/{reg}/dismantling", f"/api/v1/issuer/certificates/{reg}/corrections",
             f"/api/v1/issuer/certificates/{reg}/history", "/api/v1/issuer/tokens"]
    bodies = [None, {}, {"ids": ids}, {"id": ids[0], "action": "delete"}, {"since": "0", "entries": []},
              {"state": "valid", "reason": "清理审计", "audit": []}, {"completed_at": "2025-09-01T10:00:00+08:00"}]
    statuses = set()
    for credential in (token, other, "crv_000000000000_x"):
        for path in paths:
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                for body in bodies if method != "GET" else [None]:
                    response = client.open(path, method=method, json=body, headers=bearer(credential),
                                           query_string={"since": ids[0]} if method == "GET" else None)
                    assert response.status_code < 500, (method, path, body, response.get_data(as_text=True))
                    statuses.add(response.status_code)
    assert {200, 400, 401, 403, 404, 405} <= statuses

    after = [e.to_json() for e in store.audit(count=100_000)]
    assert after[:len(before)] == before, "an audit entry was removed or changed"
    assert store.refusals(count=100_000)        # the refusals were logged, apart from the audit stream
    after_ids = [_stream_id(e["id"]) for e in after]
    assert after_ids == sorted(after_ids) and len(set(after_ids)) == len(after_ids), "ids must strictly increase"
    # and nothing in the store's code trims or deletes a stream
    source = "".join(path.read_text("utf-8") for path in Path(store_module.__file__).parent.glob("*.py")).lower()
    assert "xdel" not in source and "xtrim" not in source and "maxlen" not in source
