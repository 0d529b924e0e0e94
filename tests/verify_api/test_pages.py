"""The public pages through Flask's test client: verdict words and icons, lookups, masking, headers."""

import random
import re
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from keys.payload import issue
from keys.record import Record
from keys.samples import CITIES, sample_record
from keys.trustlist import KeyState, SignedTrustList
from verify_api import create_app, demo, pages

from .conftest import by_state

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

# state -> (headline word, tone, icon)
EXPECTED = {
    "valid": ("有效", "ok", "check"),
    "ended": ("已终止", "bad", "cross"),
    "superseded": ("本版本已被替换", "bad", "cross"),
    "revoked": ("已撤销", "bad", "cross"),
    "suspended": ("已暂扣", "bad", "cross"),
    "paper_legacy": ("纸质证书", "warn", "warn"),
}
MOBILE_NUMBER = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def payload_path(qr_text: str) -> str:
    return "/V/" + qr_text.rsplit("/", 1)[1]


def verdict(html: str) -> dict:
    """The verdict block: its tone, icon, state and the words in its headline."""
    section = re.search(r'<section class="verdict [^"]*" role="status"[^>]*>.*?</section>', html, re.S)
    assert section, "no verdict block with role=status"
    block = section.group(0)
    h1 = re.search(r"<h1>(.*?)</h1>", block, re.S).group(1)
    icon = re.search(r'<svg class="icon" data-icon="(\w+)"', h1)
    tone = re.search(r'data-tone="(\w+)"', block).group(1)
    state = re.search(r'data-state="(\w+)"', block)
    return {"tone": tone, "icon": icon.group(1) if icon else None, "state": state.group(1) if state else None,
            "headline": text_of(h1), "text": text_of(block)}


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


def page_for(client, cert: dict):
    if "qr_text" in cert:
        return client.get(payload_path(cert["qr_text"]))
    return client.get("/lookup", query_string={"registration_no": cert["registration_no"],
                                               "record_no": cert["record_no"]})


def assert_safe_html(response) -> None:
    """Every public page: HTML, the security headers, nothing inline for the CSP to refuse."""
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "<script" not in html and "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert html.count("<h1") == 1
    assert "本页不会要求您填写任何信息" in html and "never asks you for anything" in html  # the anti-phishing footer
    for span in re.findall(r'<span class="en"[^>]*>', html):
        assert 'lang="en"' in span, span


@pytest.mark.parametrize("state", sorted(EXPECTED))
def test_each_registry_state_has_its_word_and_icon(client, manifest, state):
    word, tone, icon = EXPECTED[state]
    cert = by_state(manifest, state)[0]
    response = page_for(client, cert)
    assert response.status_code == 200
    assert_safe_html(response)
    html = response.get_data(as_text=True)
    found = verdict(html)
    assert found["headline"].startswith(word), found
    assert (found["tone"], found["icon"], found["state"]) == (tone, icon, state)
    assert f"<title>{word} · " in html
    assert cert["record_no"] in html and cert["registration_no"] in html
    assert response.headers["Cache-Control"] == "no-store"


def test_every_demo_certificate_renders_its_state(client, manifest):
    for cert in manifest["certificates"]:
        response = page_for(client, cert)
        assert response.status_code == 200, cert
        found = verdict(response.get_data(as_text=True))
        assert found["state"] == cert["expected_status"], cert
        assert found["headline"].startswith(EXPECTED[cert["expected_status"]][0]), cert


def test_valid_page_shows_what_an_inspector_compares(client, manifest, store):
    cert = by_state(manifest, "valid")[0]
    record = store.get(cert["registration_no"]).record
    html = client.get(payload_path(cert["qr_text"])).get_data(as_text=True)
    found = verdict(html)
    assert found["headline"] == "有效 Valid"
    assert "证书有效" in found["text"] and "Certificate valid" in found["text"]
    plate = re.search(r'<section class="card plate".*?</section>', html, re.S).group(0)
    equipment = record.equipment
    for value in (equipment.record_no, equipment.factory_serial, equipment.model):
        assert f"<dd>{value}" in plate
    assert "产权备案编号" in plate and "出厂编号" in plate
    for value in (record.project.name, record.project.address, record.project.position, record.issuer.name,
                  record.user.name):
        assert value in html
    # the verdict comes first, before any other section
    assert html.index('class="verdict') < html.index('class="card')


def test_ended_page_says_since_when_and_why(client, manifest, store):
    cert = by_state(manifest, "ended")[0]
    stored = store.get(cert["registration_no"])
    html = client.get(payload_path(cert["qr_text"])).get_data(as_text=True)
    assert "证书已终止（已办理拆卸告知）" in verdict(html)["text"]
    assert stored.reason in html
    since = stored.since.astimezone(UTC) + timedelta(hours=8)
    assert since.strftime("%Y-%m-%d %H:%M") in html  # people's time, not an ISO string


def test_superseded_page_leads_to_the_version_in_force(client, manifest):
    cert = next(c for c in by_state(manifest, "superseded") if c["version"] == 1)
    html = client.get(payload_path(cert["qr_text"])).get_data(as_text=True)
    assert "第2版" in html and "请以新版本为准" in html
    link = re.search(r'<p class="newer"><a href="([^"]+)"', html).group(1).replace("&amp;", "&")
    newer = client.get(link)
    assert newer.status_code == 200
    newer_html = newer.get_data(as_text=True)
    assert verdict(newer_html)["headline"].startswith("有效")
    assert "第2版" in newer_html


def test_lowercase_path_is_the_same_page(client, manifest):
    cert = by_state(manifest, "revoked")[0]
    upper = client.get(payload_path(cert["qr_text"]))
    lower = client.get(payload_path(cert["qr_text"]).replace("/V/", "/v/", 1))
    assert lower.status_code == 200
    assert verdict(lower.get_data(as_text=True))["headline"] == verdict(upper.get_data(as_text=True))["headline"]


def tampered(client, qr_text: str) -> str:
    """The QR text with one character of its signature changed, still well-formed."""
    for position in range(len(qr_text) - 30, len(qr_text) - 1):
        changed = qr_text[:position] + ("B" if qr_text[position] == "A" else "A") + qr_text[position + 1:]
        answer = client.post("/api/v1/verify", json={"qr": changed}).get_json()
        if answer["signature"]["result"] == "invalid":
            return changed
    raise AssertionError("no single-character change gave a well-formed payload")


def test_tampered_payload_reads_signature_invalid(client, manifest):
    cert = by_state(manifest, "valid")[0]
    response = client.get(payload_path(tampered(client, cert["qr_text"])))
    assert response.status_code == 200
    assert_safe_html(response)
    html = response.get_data(as_text=True)
    found = verdict(html)
    assert found["headline"] == "签名无效 Signature invalid"
    assert (found["tone"], found["icon"]) == ("bad", "cross")
    assert "核对设备铭牌" not in html and cert["record_no"] not in html  # nothing from a forged code is shown
    assert "有效 Valid" not in text_of(html)


@pytest.mark.parametrize("payload", ["HELLO", "A" * 30, "hello-world", "MFRGGZDFMZTWQ2LK"])
def test_not_ours_reads_not_recognised(client, payload):
    response = client.get("/V/" + payload)
    assert response.status_code == 200
    assert_safe_html(response)
    found = verdict(response.get_data(as_text=True))
    assert found["headline"] == "无法识别 Not recognised"
    assert (found["tone"], found["icon"]) == ("unknown", "question")
    assert "不是有效的起重机械使用登记证书二维码" in found["text"]


def test_too_long_payload_is_an_html_413(client):
    response = client.get("/V/" + "A" * 5000)
    assert response.status_code == 413
    assert_safe_html(response)
    assert "内容过长" in response.get_data(as_text=True)


def test_signed_but_unregistered_is_calm_not_found(client, manifest, demo_keys, config):
    raw = sample_record(random.Random(7), 9001, city=CITIES[0])
    signed_at = datetime.now(UTC) - timedelta(days=2)
    qr_text = issue(Record.from_json(raw), demo_keys.issuers[CITIES[0].code], config.public_url, signed_at)
    response = client.get(payload_path(qr_text))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    found = verdict(html)
    assert found["headline"] == "未查询到登记信息 No registration found"
    assert (found["tone"], found["icon"]) == ("unknown", "question")
    assert "请联系发证机关" in found["text"]
    for alarming in ("伪造", "假证", "forged", "fake", "签名无效"):
        assert alarming not in html


def test_lookup_paper_certificate(client, manifest):
    paper = by_state(manifest, "paper_legacy")[0]
    response = client.get("/lookup", query_string={"registration_no": paper["registration_no"],
                                                   "record_no": paper["record_no"]})
    assert response.status_code == 200
    assert_safe_html(response)
    html = response.get_data(as_text=True)
    found = verdict(html)
    assert found["headline"] == "纸质证书 Paper certificate"
    assert (found["tone"], found["icon"]) == ("warn", "warn")
    assert "请核对纸质原件" in found["text"]
    assert f"<dd>{paper['record_no']}</dd>" in html
    assert "无电子签名" in html


def test_lookup_with_a_wrong_record_number_is_a_calm_404(client, manifest):
    paper = by_state(manifest, "paper_legacy")[0]
    wrong = client.get("/lookup", query_string={"registration_no": paper["registration_no"], "record_no": "辽A-T-99999"})
    unknown = client.get("/lookup", query_string={"registration_no": "辽A-SY-2099-99999", "record_no": paper["record_no"]})
    for response in (wrong, unknown):
        assert response.status_code == 404
        assert_safe_html(response)
        html = response.get_data(as_text=True)
        found = verdict(html)
        assert found["headline"] == "未查询到登记信息 No registration found"
        assert found["icon"] == "question"
        assert "新发的证书可能尚未同步" in found["text"]
        assert "伪造" not in html and "forged" not in html
        assert "纸质证书" not in html  # nothing about the certificate leaks with one right number
    # what was typed stays in the form, to correct it
    assert 'value="辽A-T-99999"' in wrong.get_data(as_text=True)


def test_lookup_forgives_how_numbers_are_typed(client, manifest):
    cert = by_state(manifest, "valid")[0]
    typed = {"registration_no": " " + cert["registration_no"].lower().replace("-", "－") + " ",
             "record_no": cert["record_no"].lower().replace("-", "—")}
    response = client.get("/lookup", query_string=typed)
    assert response.status_code == 200
    assert verdict(response.get_data(as_text=True))["headline"] == "有效 Valid"


def test_lookup_needs_both_numbers(client, manifest):
    response = client.get("/lookup", query_string={"registration_no": "辽A-SY-2024-00456"})
    assert response.status_code == 400
    assert_safe_html(response)
    html = response.get_data(as_text=True)
    assert "请填写两个编号" in html and 'value="辽A-SY-2024-00456"' in html


def test_index_has_the_form(client):
    response = client.get("/")
    assert response.status_code == 200
    assert_safe_html(response)
    html = response.get_data(as_text=True)
    assert '<form method="get" action="/lookup">' in html
    for field in ("registration_no", "record_no"):
        assert f'<label for="{field}">' in html and f'id="{field}" name="{field}"' in html
    assert "verify.example.cn" in html  # the footer names the official address


def test_only_masked_personal_data_on_any_page(client, manifest, store):
    for cert in manifest["certificates"]:
        record = store.get(cert["registration_no"], cert.get("version")).record
        html = page_for(client, cert).get_data(as_text=True)
        phone, engineer = record.supervisor.phone, record.supervisor.engineer
        assert phone not in html and engineer not in html, cert
        assert f"<dd>{phone[:3]}****{phone[-4:]}</dd>" in html, cert
        assert f"<dd>{engineer[0]}{'*' * (len(engineer) - 1)}</dd>" in html, cert
        assert not MOBILE_NUMBER.search(html), cert


def test_html_404_for_browsers_json_for_the_api(client):
    for path in ("/no-such-page", "/V/", "/V/A/B"):
        response = client.get(path, headers={"Accept": BROWSER_ACCEPT})
        assert response.status_code == 404, path
        assert_safe_html(response)
        html = response.get_data(as_text=True)
        assert "页面不存在" in html and "Page not found" in html
        assert 'action="/lookup"' in html
    api = client.get("/api/v1/no-such-thing", headers={"Accept": BROWSER_ACCEPT})
    assert api.status_code == 404 and api.is_json


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_store_down_reads_unknown_not_bad(config, manifest):
    down = create_app(config.with_(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout=0.3))
    down.testing = True
    client = down.test_client()
    cert = by_state(manifest, "valid")[0]
    response = client.get(payload_path(cert["qr_text"]))
    assert response.status_code == 200 and response.headers["Retry-After"]
    found = verdict(response.get_data(as_text=True))
    assert found["headline"] == "状态未知 Status unknown"
    assert (found["tone"], found["icon"]) == ("unknown", "question")
    response = client.get("/lookup", query_string={"registration_no": cert["registration_no"],
                                                   "record_no": cert["record_no"]})
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert verdict(response.get_data(as_text=True))["headline"] == "暂时无法查询 Temporarily unavailable"


def test_payload_of_a_compromised_key_is_not_vouched_for(config, manifest, demo_keys):
    trust = demo.demo_trust_list(demo_keys)
    stolen = demo_keys.issuers["210100"].public_key().kid
    keys = tuple(replace(k, state=KeyState.COMPROMISED, compromised_at=datetime(2024, 1, 2, tzinfo=UTC))
                 if k.kid == stolen else k for k in trust.keys)
    config.trust_path.write_bytes(SignedTrustList.sign(replace(trust, keys=keys, serial=2), demo_keys.root).dumps())
    compromised = create_app(config)
    compromised.testing = True
    cert = next(c for c in by_state(manifest, "valid") if c["registration_no"].startswith("辽A"))
    response = compromised.test_client().get(payload_path(cert["qr_text"]))
    html = response.get_data(as_text=True)
    found = verdict(html)
    assert found["headline"] == "签名无效 Signature invalid"
    assert (found["tone"], found["icon"]) == ("bad", "cross")
    assert "签发密钥已被吊销" in found["text"]
    assert "签名未通过核验，以下信息不能证明证书有效" in html
    assert "本证书不适用于这台设备" not in html  # no invitation to compare with the plate


def test_rate_limited_browser_gets_a_page(config):
    limited = create_app(config.with_(rate_limit="2/minute"))
    client = limited.test_client()
    responses = [client.get("/V/HELLO", headers={"Accept": BROWSER_ACCEPT}) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert_safe_html(responses[-1])
    assert verdict(responses[-1].get_data(as_text=True))["headline"] == "请求过于频繁 Too many requests"
    assert int(responses[-1].headers["Retry-After"]) > 0


def test_unexpected_error_is_a_calm_page(client, monkeypatch):
    def broken(text):
        raise RuntimeError("boom")

    monkeypatch.setattr(pages, "check_text", broken)
    response = client.get("/V/HELLO", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 500
    assert_safe_html(response)
    html = response.get_data(as_text=True)
    assert verdict(html)["headline"] == "服务暂时出错 Something went wrong"
    assert "不代表证书有问题" in html and "boom" not in html
