import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from keys.payload import issue
from keys.record import Record
from keys.samples import CITIES, sample_record
from verify_api import demo, issuer_token

SIGNED_AT = datetime(2025, 6, 1, 1, tzinfo=UTC)


def signed(demo_keys, index=900, city=CITIES[0], version=1, **changes):
    raw = sample_record(random.Random(index), index, city=city)
    raw.update(changes)
    if version > 1:
        raw["version"] = version
        raw["licence_id"] = demo.with_version(raw["licence_id"], version)
    record = Record.from_json(raw)
    return raw, issue(record, demo_keys.issuers[city.code], "https://verify.example.cn", SIGNED_AT)


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_register_is_idempotent_and_conflicts_are_409(client, token, demo_keys):
    raw, qr = signed(demo_keys)
    first = client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=auth(token))
    assert first.status_code == 201 and first.get_json()["outcome"] == "created"
    again = client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=auth(token))
    assert again.status_code == 200 and again.get_json()["outcome"] == "unchanged"
    other_raw, other_qr = signed(demo_keys, registration_no=raw["registration_no"])
    other_raw["equipment"]["factory_serial"] = "2099-0001"
    other_qr = issue(Record.from_json(other_raw), demo_keys.issuers["210100"], "https://verify.example.cn", SIGNED_AT)
    conflict = client.post("/api/v1/issuer/certificates", json={"record": other_raw, "qr_text": other_qr},
                           headers=auth(token))
    assert conflict.status_code == 409
    answer = client.post("/api/v1/verify", json={"qr": qr}).get_json()
    assert answer["status"]["state"] == "valid" and answer["verdict"]["ok"]


def test_register_checks_signature_record_and_issuer(client, token, demo_keys):
    raw, qr = signed(demo_keys)
    tampered = dict(raw, equipment=dict(raw["equipment"], record_no="辽A-T-99999"))
    response = client.post("/api/v1/issuer/certificates", json={"record": tampered, "qr_text": qr}, headers=auth(token))
    assert response.status_code == 422 and "record_no" in response.get_json()["message"]
    forged = qr[:-12] + ("A" if qr[-12] != "A" else "B") + qr[-11:]
    response = client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": forged}, headers=auth(token))
    assert response.status_code == 422
    bad = dict(raw, licence_id=raw["licence_id"][:-1] + "0")
    response = client.post("/api/v1/issuer/certificates", json={"record": bad, "qr_text": qr}, headers=auth(token))
    assert response.status_code == 400 and "licence_id" in response.get_json()["message"]


def test_an_issuer_cannot_touch_another_issuers_certificates(client, store, demo_keys):
    dalian_token = store.create_token(CITIES[1].code, datetime.now(UTC))[1]
    shenyang_token = store.create_token(CITIES[0].code, datetime.now(UTC))[1]
    raw, qr = signed(demo_keys)
    denied = client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr},
                         headers=auth(dalian_token))
    assert denied.status_code == 403
    client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=auth(shenyang_token))
    reg = raw["registration_no"]
    for path, body in (("/status", {"state": "revoked", "reason": "x"}),
                       ("/dismantling", {"completed_at": "2025-09-01T10:00:00+08:00", "notice_no": "辽A-CX-1"})):
        response = client.post(f"/api/v1/issuer/certificates/{reg}{path}", json=body, headers=auth(dalian_token))
        assert response.status_code == 403
    assert client.get(f"/api/v1/issuer/certificates/{reg}", headers=auth(dalian_token)).status_code == 403
    denials = store.refusals()
    assert [e.action for e in denials] == ["register", "status", "dismantling", "read"]
    assert all(e.actor.startswith("issuer:210200:") and e.owner == "210100" for e in denials)
    assert [e.action for e in store.audit()] == ["token:create", "token:create", "register"]  # changes only
    assert store.get(reg).state.value == "valid"


def test_status_transitions(client, token, demo_keys):
    raw, qr = signed(demo_keys)
    client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=auth(token))
    url = f"/api/v1/issuer/certificates/{raw['registration_no']}/status"

    def to(state, expect):
        response = client.post(url, json={"state": state, "reason": "检查"}, headers=auth(token))
        assert response.status_code == expect, (state, response.get_json())
        return response.get_json()

    to("valid", 409)                       # reinstating only from suspended
    assert to("suspended", 200) == {"outcome": "changed", "registration_no": raw["registration_no"], "version": 1,
                                    "before": "valid", "after": "suspended"}
    to("valid", 200)
    to("superseded", 400)                  # only through a correction
    to("revoked", 200)
    to("valid", 409)
    to("suspended", 409)
    to("ended", 200)
    for state in ("valid", "suspended", "revoked", "ended"):
        to(state, 409)                     # ended is final
    assert client.post(url, json={"state": "ended"}, headers=auth(token)).status_code == 400  # reason required
    history = client.get(f"/api/v1/issuer/certificates/{raw['registration_no']}", headers=auth(token)).get_json()
    assert [h.get("after") for h in history["history"]] == ["valid", "suspended", "valid", "revoked", "ended"]


def test_dismantling_notice_ends_the_certificate_from_its_completion_time(client, token, demo_keys):
    raw, qr = signed(demo_keys)
    client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=auth(token))
    url = f"/api/v1/issuer/certificates/{raw['registration_no']}/dismantling"
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert client.post(url, json={"completed_at": future}, headers=auth(token)).status_code == 400
    assert client.post(url, json={"completed_at": "2025-09-01 10:00"}, headers=auth(token)).status_code == 400
    response = client.post(url, json={"completed_at": "2025-09-01T10:00:00+08:00", "notice_no": "辽A-CX-2025-0012"},
                           headers=auth(token))
    assert response.status_code == 200 and response.get_json()["after"] == "ended"
    answer = client.post("/api/v1/verify", json={"qr": qr}).get_json()
    assert answer["status"]["state"] == "ended"
    assert answer["status"]["since"] == "2025-09-01T10:00:00+08:00"
    assert "辽A-CX-2025-0012" in answer["status"]["reason"]
    assert answer["verdict"]["zh"] == "证书已终止（已办理拆卸告知）"


def test_a_correction_supersedes_atomically(client, token, demo_keys, store):
    raw, qr = signed(demo_keys)
    client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=auth(token))
    reg = raw["registration_no"]
    raw2, qr2 = signed(demo_keys, version=2)
    raw2["project"]["position"] = "9#楼西侧"
    qr2 = issue(Record.from_json(raw2), demo_keys.issuers["210100"], "https://verify.example.cn", SIGNED_AT)
    url = f"/api/v1/issuer/certificates/{reg}/corrections"
    response = client.post(url, json={"record": raw2, "qr_text": qr2, "reason": "更正安装位置"}, headers=auth(token))
    assert response.status_code == 201, response.get_json()
    old = client.post("/api/v1/verify", json={"qr": qr}).get_json()
    new = client.post("/api/v1/verify", json={"qr": qr2}).get_json()
    assert old["status"]["state"] == "superseded" and old["status"]["superseded_by"]["version"] == 2
    assert new["status"]["state"] == "valid" and new["certificate"]["project"]["position"] == "9#楼西侧"
    again = client.post(url, json={"record": raw2, "qr_text": qr2, "reason": "x"}, headers=auth(token))
    assert again.status_code == 200 and again.get_json()["outcome"] == "unchanged"  # a retry, like a registration
    feed = [(e.version, e.state.value) for e in store.feed() if e.registration_no == reg]
    assert feed == [(1, "valid"), (1, "superseded"), (2, "valid")]


def test_tokens_are_hashed_and_revocation_is_immediate(client, store, demo_keys):
    token_id, token = store.create_token("210100", datetime.now(UTC))
    raw_keys = store.client.keys("*{t:*")
    stored = store.client.hgetall(raw_keys[0])
    assert token.split("_", 2)[2] not in json.dumps(stored)
    assert client.get("/api/v1/issuer/audit", headers=auth(token)).status_code == 200
    store.revoke_token(token_id, datetime.now(UTC))
    assert client.get("/api/v1/issuer/audit", headers=auth(token)).status_code == 401


def test_an_expired_issuer_token_is_401(client, store):
    now = datetime.now(UTC)
    _, token = store.create_token("210100", now - timedelta(days=2), expires_at=now - timedelta(days=1))
    assert client.get("/api/v1/issuer/audit", headers=auth(token)).status_code == 401
    _, live = store.create_token("210100", now, expires_at=now + timedelta(days=1))
    assert client.get("/api/v1/issuer/audit", headers=auth(live)).status_code == 200


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer crv_x_y", "Basic abc", "Bearer " + "crv_" + "a" * 12 + "_x"])
def test_wrong_tokens_are_401(client, header):
    response = client.get("/api/v1/issuer/audit", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert set(response.get_json()) == {"code", "message"}


def test_every_change_is_audited(client, token, demo_keys, store):
    raw, qr = signed(demo_keys)
    client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=auth(token))
    client.post(f"/api/v1/issuer/certificates/{raw['registration_no']}/status",
                json={"state": "suspended", "reason": "隐患整改"}, headers=auth(token))
    entries = client.get("/api/v1/issuer/audit", headers=auth(token)).get_json()["entries"]
    mine = [e for e in entries if e["registration_no"] == raw["registration_no"]]
    assert [e["action"] for e in mine] == ["register", "status"]
    assert mine[1]["before"] == {"state": "valid"} and mine[1]["after"]["state"] == "suspended"
    assert all(e["actor"].startswith("issuer:210100:") and e["at"] for e in mine)


def test_an_owner_sees_the_refused_attempts_on_its_certificates(client, store, demo_keys):
    shenyang = store.create_token(CITIES[0].code, datetime.now(UTC))[1]
    dalian = store.create_token(CITIES[1].code, datetime.now(UTC))[1]
    raw, qr = signed(demo_keys, index=901)
    client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=auth(shenyang))
    reg = raw["registration_no"]
    client.post(f"/api/v1/issuer/certificates/{reg}/status", json={"state": "revoked", "reason": "x"},
                headers=auth(dalian))
    seen = client.get("/api/v1/issuer/refusals", headers=auth(shenyang)).get_json()
    assert [(e["action"], e["registration_no"], e["owner"]) for e in seen["entries"]] == [("status", reg, "210100")]
    assert seen["entries"][0]["actor"].startswith("issuer:210200:") and seen["next"] == seen["entries"][0]["id"]
    assert client.get("/api/v1/issuer/refusals", query_string={"since": seen["next"]},
                      headers=auth(shenyang)).get_json() == {"entries": [], "next": seen["next"]}
    # the one who tried sees its refusal too; the audit views hold changes only
    assert [e["action"] for e in client.get("/api/v1/issuer/refusals", headers=auth(dalian)).get_json()["entries"]] \
        == ["status"]
    assert [e["action"] for e in client.get("/api/v1/issuer/audit", headers=auth(shenyang)).get_json()["entries"]] \
        == ["register"]
    assert client.get("/api/v1/issuer/audit", headers=auth(dalian)).get_json()["entries"] == []


def test_an_issuers_audit_view_pages_past_any_number_of_other_issuers_entries(client, store, demo_keys):
    """The view once filtered a page of the operator's stream: 500 foreign entries in a row gave an issuer
    [] and the same cursor for ever. Each issuer reads a stream of its own now."""
    now = datetime.now(UTC)
    shenyang_id, shenyang = store.create_token(CITIES[0].code, now)
    dalian_id, dalian = store.create_token(CITIES[1].code, now)
    dalian_actor = issuer_token.actor(CITIES[1].code, dalian_id)
    anshan_raw, anshan_qr = signed(demo_keys, index=932, city=CITIES[2])
    blocks = iter(range(10_000, 20_000, 510))

    def others_entries():
        """511 entries not for 沈阳 (more than a page): 大连 imports 510 of its own and is refused once on
        鞍山's behalf."""
        first = next(blocks)
        imported = (sample_record(random.Random(i), i, city=CITIES[1]) for i in range(first, first + 510))
        changes = store.register_many(((Record.from_json(r), None) for r in imported), dalian_actor, now)
        assert all(c.outcome.value == "created" for c in changes)
        refused = client.post("/api/v1/issuer/certificates", json={"record": anshan_raw, "qr_text": anshan_qr},
                              headers=auth(dalian))
        assert refused.status_code == 403

    raw, qr = signed(demo_keys, index=930)
    reg = raw["registration_no"]
    expected = [("register", reg)]
    client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=auth(shenyang))
    others_entries()
    bulk = [sample_record(random.Random(i), i, city=CITIES[0]) for i in range(20_000, 20_520)]
    shenyang_actor = issuer_token.actor(CITIES[0].code, shenyang_id)
    list(store.register_many(((Record.from_json(r), None) for r in bulk), shenyang_actor, now))
    expected += [("import", r["registration_no"]) for r in bulk]
    others_entries()
    client.post(f"/api/v1/issuer/certificates/{reg}/status", json={"state": "suspended", "reason": "x"},
                headers=auth(shenyang))
    expected.append(("status", reg))
    client.post(f"/api/v1/issuer/certificates/{reg}/status", json={"state": "revoked", "reason": "x"},
                headers=auth(dalian))  # refused: in the refusals log, not in the audit view of changes
    others_entries()
    raw2, qr2 = signed(demo_keys, index=931)
    client.post("/api/v1/issuer/certificates", json={"record": raw2, "qr_text": qr2}, headers=auth(shenyang))
    expected.append(("register", raw2["registration_no"]))

    pages, cursor = [], "0"
    while True:
        page = client.get("/api/v1/issuer/audit", query_string={"since": cursor}, headers=auth(shenyang))
        assert page.status_code == 200
        body = page.get_json()
        if not body["entries"]:
            assert body["next"] == cursor  # the end: the cursor stays where it is
            break
        pages.append(body["entries"])
        cursor = body["next"]
        assert cursor == body["entries"][-1]["id"]
    seen = [e for page in pages for e in page]
    assert [len(page) for page in pages] == [500, len(expected) - 500]
    assert [(e["action"], e["registration_no"]) for e in seen] == expected  # each own entry once, in order
    assert len({e["id"] for e in seen}) == len(seen)
    assert all(e["actor"].startswith("issuer:210100:") for e in seen)
    again = client.get("/api/v1/issuer/audit", query_string={"since": cursor}, headers=auth(shenyang)).get_json()
    assert again == {"entries": [], "next": cursor}
    # the operator's log still holds every change: both tokens, 大连's 1,530 imports and 沈阳's; the four
    # refusals are in the refusals log, 沈阳 reading the one on its certificate
    assert len(store.audit(count=10_000)) == 2 + 3 * 510 + len(expected)
    assert len(store.refusals(count=10_000)) == 4
    refused = client.get("/api/v1/issuer/refusals", headers=auth(shenyang)).get_json()["entries"]
    assert [(e["action"], e["registration_no"]) for e in refused] == [("status", reg)]


def test_a_retention_below_one_day_is_refused():
    from verify_api.config import Config

    with pytest.raises(ValueError, match="RETENTION"):
        Config(retention_days=0)
