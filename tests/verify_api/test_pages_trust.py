"""What the public sees about a certificate comes from signed data and the trust list (issue 10, points 3 and
12), and pages of refused certificates say what to do (issue 11, point 8)."""

import json
import random
import re
from datetime import UTC, datetime

from keys.payload import issue
from keys.record import Record
from keys.samples import CITIES, sample_record
from verify_api import demo

from .conftest import by_state
from .test_pages import assert_safe_html, page_for, payload_path, verdict

AUTH = "Authorization"


def _section(html: str, cls: str) -> str:
    found = re.search(rf'<section class="card {cls}".*?</section>', html, re.S)
    return found.group(0) if found else ""


def _first_screen(html: str) -> str:
    """Everything a person sees without opening a <details>."""
    return re.sub(r"<details.*?</details>", "", html, flags=re.S)


def test_refused_pages_say_what_to_do_and_whom_to_call(client, manifest, store):
    for state, words in (("revoked", "请不要使用这台设备"), ("suspended", "恢复之前请不要使用这台设备"),
                         ("ended", "请不要依据本证书使用这台设备")):
        cert = by_state(manifest, state)[0]
        html = page_for(client, cert).get_data(as_text=True)
        advice = _section(html, "advice")
        assert "怎么办" in advice and "What to do" in advice and words in advice, state
        issuer = store.get(cert["registration_no"]).issuer
        city = next(c for c in CITIES if c.code == issuer)
        contact = demo.CONTACTS[issuer]
        for shown in (city.authority, contact.phone, contact.address, contact.url):
            assert shown in advice, (state, shown)
        assert f'<a href="{contact.url}" rel="noopener noreferrer">' in advice
    valid = page_for(client, by_state(manifest, "valid")[0]).get_data(as_text=True)
    assert not _section(valid, "advice"), "a valid certificate needs no advice"
    # one demo set-up for the other page checks of issue 11, point 8
    _a_superseded_version_says_it_is_replaced_and_links_the_current_one(client, manifest)
    _algorithm_and_licence_id_are_kept_under_details(client, manifest, store)


def _a_superseded_version_says_it_is_replaced_and_links_the_current_one(client, manifest):
    cert = next(c for c in by_state(manifest, "superseded") if c["version"] == 1)
    html = client.get(payload_path(cert["qr_text"])).get_data(as_text=True)
    found = verdict(html)
    assert found["headline"] == "本版本已被替换 This version is replaced" and found["icon"] == "cross"
    assert "已更正" not in found["headline"]
    block = re.search(r'<section class="verdict.*?</section>', html, re.S).group(0)
    assert re.search(r'<p class="newer"><a href="/lookup\?[^"]+">查看现行第2版', block)
    assert "本版本已作废" in _section(html, "advice")


def _algorithm_and_licence_id_are_kept_under_details(client, manifest, store):
    cert = by_state(manifest, "valid")[0]
    html = client.get(payload_path(cert["qr_text"])).get_data(as_text=True)
    licence_id = store.get(cert["registration_no"]).record.licence_id
    assert "EdDSA" in html and licence_id in html
    first = _first_screen(html)
    assert "EdDSA" not in first and licence_id not in first


def _register(client, token, record: Record, key) -> str:
    text = issue(record, key, "https://verify.example.cn", datetime(2025, 3, 1, 1, 30, tzinfo=UTC))
    response = client.post("/api/v1/issuer/certificates", json={"record": record.to_json(), "qr_text": text},
                           headers={AUTH: f"Bearer {token}"})
    assert response.status_code == 201, response.get_json()
    return text


def test_the_issuer_shown_is_the_signer_from_the_trust_list_and_unsigned_fields_are_labelled(
        client, token, demo_keys):
    shenyang, dalian = CITIES[0], CITIES[1]
    raw = sample_record(random.Random(31), 31, city=shenyang, issued_on=datetime(2025, 2, 27).date())
    raw["issuer"] = {"code": shenyang.code, "name": dalian.authority}  # unsigned words naming another authority
    text = _register(client, token, Record.from_json(raw), demo_keys.issuers[shenyang.code])

    page = client.get(payload_path(text))
    assert_safe_html(page)
    html = page.get_data(as_text=True)
    assert shenyang.authority in html and dalian.authority not in html
    site = _section(html, "site-card")
    address = re.search(r'<div class="fact[^"]*"><dt>工程地址.*?</div>', site, re.S).group(0)
    assert "登记库信息" in address and "registry data" in address
    name = re.search(r'<div class="fact[^"]*"><dt>工程名称.*?</div>', site, re.S).group(0)
    assert "登记库信息" not in name, "the project name is signed"

    body = client.post("/api/v1/verify", json={"qr": text}).get_json()
    certificate = body["certificate"]
    assert certificate["issuer"]["name"] == shenyang.authority
    assert body["signature"]["issuer"]["name"] == shenyang.authority
    assert "project.address" in certificate["registry_data"] and "owner.name" in certificate["registry_data"]
    assert not {"project.name", "registration_no", "equipment.record_no"} & set(certificate["registry_data"])
    assert certificate["project"]["address"] == raw["project"]["address"], "registry data stays, labelled"


def test_format_characters_in_stored_data_are_shown_visibly(client, store):
    """A record stored before the rule (or written past it) cannot pass 2017-9895 off for 2017-5989."""
    raw = sample_record(random.Random(77701), 77701, city=CITIES[0], paper=True, issued_on=datetime(2023, 5, 2).date())
    raw["registration_no"] = "辽A-SY-2023-77701"
    raw["equipment"]["factory_serial"] = "2017-\u202e5989"
    raw["project"]["name"] = "万科\u200d翡翠公园"
    record = Record.from_stored(json.dumps(raw, ensure_ascii=False))
    store.register(record, None, "operator:test", datetime.now(UTC))
    html = client.get("/lookup", query_string={"registration_no": raw["registration_no"],
                                               "record_no": raw["equipment"]["record_no"]}).get_data(as_text=True)
    assert "2017-&lt;U+202E&gt;5989" in html and "万科&lt;U+200D&gt;翡翠公园" in html
    assert "\u202e" not in html and "\u200d" not in html
