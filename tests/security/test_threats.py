"""The threat model's remaining entries (docs/security.md): a look-alike verification page, scraping."""

from __future__ import annotations

from tests.reliability.live import quoted

from .test_access import bearer


def test_a_look_alike_page_cannot_frame_or_borrow_the_official_one(client, manifest, token):
    cert = next(c for c in manifest["certificates"] if c["expected_status"] == "valid")
    page = client.get("/V/" + cert["qr_text"].rsplit("/", 1)[1])
    html = page.get_data(as_text=True)
    # the page names the official address, so a look-alike stands out in the address bar
    assert "verify.example.cn" in html
    # it cannot be framed by another site, and it loads nothing from anywhere else
    assert page.headers["X-Frame-Options"] == "DENY"
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "form-action 'self'" in csp
    assert page.headers["Referrer-Policy"] == "no-referrer"
    # the public API may be read from any origin, never with credentials; the issuer API from none
    public = client.get("/api/v1/verify", query_string={"qr": cert["qr_text"]}, headers={"Origin": "https://evil.example"})
    assert public.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in public.headers
    issuer = client.get("/api/v1/issuer/audit", headers={"Origin": "https://evil.example", **bearer(token)})
    assert "Access-Control-Allow-Origin" not in issuer.headers
    # what the code points at does not decide: the same signed payload under a look-alike host is the
    # same answer (a look-alike site can copy a real code but cannot change a word of it)
    moved = "HTTPS://VERIFY-EXAMPLE.CN.EVIL.EXAMPLE/V/" + cert["qr_text"].rsplit("/", 1)[1]
    assert client.post("/api/v1/verify", json={"qr": moved}).get_json()["verdict"]["ok"] is True
    tampered = moved[:-12] + ("A" if moved[-12] != "A" else "B") + moved[-11:]
    assert client.post("/api/v1/verify", json={"qr": tampered}).get_json()["verdict"]["ok"] is False


def test_scraping_is_slowed_per_client_and_lookups_need_both_numbers(make_app, manifest):
    app = make_app(rate_limit="10/minute")
    client = app.test_client()
    cert = next(c for c in manifest["certificates"] if c["expected_status"] == "valid")
    scraper, inspector = {"REMOTE_ADDR": "198.51.100.50"}, {"REMOTE_ADDR": "203.0.113.9"}
    statuses = [client.get("/api/v1/verify", query_string={"qr": cert["qr_text"]}, environ_base=scraper).status_code
                for _ in range(12)]
    assert statuses == [200] * 10 + [429] * 2
    limited = client.get("/api/v1/verify", query_string={"qr": cert["qr_text"]}, environ_base=scraper)
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    pages = [client.get(f"/lookup?registration_no={quoted(cert['registration_no'])}&record_no=x{n}",
                        environ_base=scraper).status_code for n in range(11)]
    assert pages == [429] * 11  # the public pages draw on the same budget: spent on the API, refused here too
    assert client.get("/api/v1/verify", query_string={"qr": cert["qr_text"]}, environ_base=inspector).status_code == 200

    # a lookup answers only when the registration number and the crane's record number both match; a
    # wrong guess and an unknown number read the same, so the lookup tells a scraper nothing
    fresh = make_app(rate_limit=None).test_client()
    number = quoted(cert["registration_no"])
    wrong = fresh.get(f"/api/v1/certificates/{number}", query_string={"record_no": "辽A-T-00000"})
    unknown = fresh.get("/api/v1/certificates/" + quoted("辽A-SY-2099-99999"), query_string={"record_no": "辽A-T-00000"})
    missing = fresh.get(f"/api/v1/certificates/{number}")
    assert wrong.status_code == unknown.status_code == missing.status_code == 404
    assert wrong.get_data() == unknown.get_data() == missing.get_data()
    right = fresh.get(f"/api/v1/certificates/{number}", query_string={"record_no": cert["record_no"]})
    assert right.status_code == 200
