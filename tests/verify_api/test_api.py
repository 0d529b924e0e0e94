from collections import Counter

import pytest

from .conftest import by_state


def test_every_demo_qr_resolves_to_its_expected_status(client, manifest):
    counts = Counter(c["expected_status"] for c in manifest["certificates"])
    assert set(counts) == {"valid", "ended", "superseded", "revoked", "suspended", "paper_legacy"}
    assert 45 <= sum(counts.values()) <= 60
    for cert in manifest["certificates"]:
        if "qr_text" not in cert:
            continue
        answer = client.post("/api/v1/verify", json={"qr": cert["qr_text"]}).get_json()
        assert answer["signature"]["result"] == "valid", cert
        assert answer["status"]["state"] == cert["expected_status"], cert
        assert answer["status"]["source"] == "registry"
        assert answer["verdict"]["ok"] is (cert["expected_status"] == "valid")
        assert answer["certificate"]["registration_no"] == cert["registration_no"]


def test_answer_shape_and_wording(client, manifest):
    ended = by_state(manifest, "ended")[0]
    answer = client.get("/api/v1/verify", query_string={"qr": ended["qr_text"]}).get_json()
    assert answer["verdict"] == {"ok": False, "zh": "证书已终止（已办理拆卸告知）", "en": "Certificate ended (dismantled)"}
    assert answer["status"]["reason"].startswith("拆卸告知已完成")
    assert answer["signature"]["issuer"]["name"].endswith("局")
    assert answer["checked_at"].endswith("+08:00")
    superseded = by_state(manifest, "superseded")[0]
    answer = client.post("/api/v1/verify", json={"qr": superseded["qr_text"]}).get_json()
    assert answer["status"]["superseded_by"] == {"registration_no": superseded["registration_no"], "version": 2}


def test_personal_data_is_masked(client, manifest):
    cert = by_state(manifest, "valid")[0]
    answer = client.post("/api/v1/verify", json={"qr": cert["qr_text"]}).get_json()
    supervisor = answer["certificate"]["supervisor"]
    assert "*" in supervisor["engineer"] and "****" in supervisor["phone"]
    assert len(supervisor["phone"]) == 11


def test_a_changed_character_is_never_valid(client, manifest):
    text = by_state(manifest, "valid")[0]["qr_text"]
    for position in range(len(text) - 40, len(text)):
        changed = text[:position] + ("A" if text[position] != "A" else "B") + text[position + 1:]
        answer = client.post("/api/v1/verify", json={"qr": changed}).get_json()
        assert answer["verdict"]["ok"] is False
        assert answer["signature"]["result"] in ("invalid", "malformed", "unknown_key")


@pytest.mark.parametrize("text", ["hello", "", "https://example.com/", "HTTPS://X.CN/V/" + "A" * 30, "\x00\xff",
                                  "1.2.156.3005.2.11100000000013338W999.11210100000000000J.20250000456.001.X"])
def test_text_that_is_not_ours_is_an_answer(client, text):
    response = client.post("/api/v1/verify", json={"qr": text})
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["signature"]["result"] == "malformed"
    assert answer["verdict"]["ok"] is False


def test_licence_identifier_forms_resolve(client, manifest, store):
    cert = by_state(manifest, "valid")[0]
    licence_id = store.get(cert["registration_no"]).record.licence_id
    for form in (licence_id, f"https://zwfw.example.gov.cn/verify?id={licence_id}"):
        answer = client.post("/api/v1/verify", json={"qr": form}).get_json()
        assert answer["status"]["state"] == "valid", form
        assert answer["signature"]["result"] == "valid"  # the stored payload's signature, checked afresh
        assert answer["certificate"]["registration_no"] == cert["registration_no"]
    unknown = licence_id.rsplit(".", 3)[0] + ".99999999999.001."
    from keys.identifiers import mod37_36_check

    body = unknown.split(".", 5)[5].replace(".", "")
    answer = client.post("/api/v1/verify", json={"qr": unknown + mod37_36_check(body)}).get_json()
    assert answer["status"]["state"] == "not_found"
    assert answer["status"]["reason"].startswith("未查询到登记信息")


def test_bad_requests_get_json_errors(client):
    assert client.post("/api/v1/verify", data="qr=x").status_code == 415
    response = client.post("/api/v1/verify", data="{not json", content_type="application/json")
    assert response.status_code == 400 and response.get_json()["code"] == "bad_json"
    response = client.post("/api/v1/verify", json={"qr": 5})
    assert response.status_code == 400 and response.get_json()["code"] == "missing_qr"
    response = client.post("/api/v1/verify", json={"qr": "A" * 100_000})
    assert response.status_code == 413 and set(response.get_json()) == {"code", "message"}
    assert client.get("/api/v1/verify").status_code == 400
    assert client.get("/api/v1/verify", query_string={"qr": "A" * 5000}).status_code == 413


def test_lookup_needs_both_numbers(client, manifest):
    paper = by_state(manifest, "paper_legacy")[0]
    url = f"/api/v1/certificates/{paper['registration_no']}"
    missing = client.get(url)
    wrong = client.get(url, query_string={"record_no": "辽A-T-99999"})
    unknown = client.get("/api/v1/certificates/辽A-SY-2099-99999", query_string={"record_no": paper["record_no"]})
    assert missing.status_code == wrong.status_code == unknown.status_code == 404
    assert missing.get_json() == wrong.get_json() == unknown.get_json()
    found = client.get(url, query_string={"record_no": paper["record_no"]})
    assert found.status_code == 200
    answer = found.get_json()
    assert answer["status"]["state"] == "paper_legacy"
    assert answer["signature"]["result"] == "not_applicable"
    assert answer["verdict"]["ok"] is True and "纸质" in answer["verdict"]["zh"]


def test_trust_list_etag(client, demo_keys):
    first = client.get("/api/v1/trust-list")
    assert first.status_code == 200 and first.headers["ETag"]
    again = client.get("/api/v1/trust-list", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    from keys.trustlist import SignedTrustList

    trust = SignedTrustList.loads(first.data).verify(demo_keys.root.public_key())
    assert {i.code for i in trust.issuers} == {"210100", "210200", "210300"}


def test_status_feed_pages_are_signed_and_resumable(client, manifest, demo_keys):
    from keys.feed import FeedError, verify_page
    from keys.trustlist import SignedTrustList

    trust = SignedTrustList.loads(client.get("/api/v1/trust-list").data).verify(demo_keys.root.public_key())
    states, cursor, pages = {}, "0", 0
    while True:
        document = client.get("/api/v1/status-feed", query_string={"since": cursor, "limit": 10}).get_json()
        page = verify_page(document, trust)
        pages += 1
        for entry in page["entries"]:
            states[(entry["registration_no"], entry["version"])] = entry["state"]
        cursor = page["next"]
        if not page["more"]:
            break
    assert pages > 3
    for cert in manifest["certificates"]:
        assert states[(cert["registration_no"], cert["version"])] == cert["expected_status"]
    document["page"]["entries"].append({"registration_no": "x"})
    with pytest.raises(FeedError):
        verify_page(document, trust)
    assert client.get("/api/v1/status-feed", query_string={"since": "drop table"}).status_code == 400


def test_ops_endpoints(client, manifest):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").get_json()["checks"] == {"store": True, "trust_list": True}
    client.post("/api/v1/verify", json={"qr": by_state(manifest, "valid")[0]["qr_text"]})
    metrics = client.get("/metrics").data.decode()
    assert 'crane_verdicts_total{ok="true",signature="valid",state="valid"}' in metrics
    assert "crane_http_request_duration_seconds_bucket" in metrics
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1") and "/api/v1/verify" in spec["paths"]


def test_security_headers_and_cors(client):
    response = client.get("/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    preflight = client.options("/api/v1/verify", headers={"Origin": "https://m.example.cn",
                                                          "Access-Control-Request-Method": "POST"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in client.get("/api/v1/issuer/audit").headers
