"""Service-side trust boundaries (issue 10, points 1, 2, 4) and issuer API messages (issue 11, point 3)."""

import json
import random
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from keys.cli_env import ExitStatus
from keys.identifiers import CRANE_TYPE_CODE, LicenceId
from keys.payload import issue
from keys.record import Record
from keys.samples import CITIES, authority_credit_code, sample_record
from keys.trustlist import KeyState, SignedTrustList
from verify_api import create_app

from .conftest import by_state
from .test_cli import run as run  # the crane-verify command, as a fixture

URL = "https://verify.example.cn"
SIGNED_AT = datetime(2025, 6, 1, 1, tzinfo=UTC)
SHENYANG, DALIAN = CITIES[0], CITIES[1]
CHINESE_FIRST = re.compile(r"^[^A-Za-z]*[\u4e00-\u9fff]")


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def post(client, token, record: dict, qr_text: str | None, path="/api/v1/issuer/certificates", **extra):
    return client.post(path, json={"record": record, "qr_text": qr_text, **extra}, headers=auth(token))


def signed(demo_keys, index, city=SHENYANG, at=SIGNED_AT, **changes) -> tuple[dict, str]:
    raw = sample_record(random.Random(index), index, city=city)
    raw.update(changes)
    return raw, issue(Record.from_json(raw), demo_keys.issuers[city.code], URL, at)


def test_another_issuers_e_licence_identifier_cannot_be_taken(client, store, demo_keys, manifest):
    """Dalian registers its own certificate carrying Shenyang's identifier of a revoked certificate."""
    victim = next(c for c in by_state(manifest, "revoked") if store.get(c["registration_no"]).issuer == SHENYANG.code)
    stolen = store.get(victim["registration_no"]).record.licence_id
    before = client.post("/api/v1/verify", json={"qr": stolen}).get_json()
    assert before["status"]["state"] == "revoked"
    dalian = store.create_token(DALIAN.code, datetime.now(UTC))[1]
    raw = sample_record(random.Random(41), 41, city=DALIAN)
    del raw["issuer"]["credit_code"]  # the optional, unsigned credit code left out
    raw["licence_id"] = stolen
    qr = issue(Record.from_json(raw), demo_keys.issuers[DALIAN.code], URL, SIGNED_AT)
    refused = post(client, dalian, raw, qr)
    assert refused.status_code == 422, refused.get_json()
    body = refused.get_json()
    assert body["code"] == "licence_id_of_another_issuer" and CHINESE_FIRST.match(body["message"])
    after = client.post("/api/v1/verify", json={"qr": stolen}).get_json()
    assert after == {**before, "checked_at": after["checked_at"]}, "the victim's answer is unchanged"
    assert client.post("/api/v1/verify", json={"qr": qr}).get_json()["signature"]["result"] == "invalid"


def test_concurrent_registrations_of_two_numbers_with_one_identifier_admit_one(store, demo_keys):
    outcomes = []
    for n in range(8):
        first, first_qr = signed(demo_keys, 600 + 2 * n)
        second, second_qr = signed(demo_keys, 601 + 2 * n, licence_id=first["licence_id"])
        assert first["registration_no"] != second["registration_no"]
        barrier = threading.Barrier(2)

        def register(raw: dict, qr: str, barrier=barrier):
            barrier.wait()
            return store.register(Record.from_json(raw), qr, "issuer:210100", datetime.now(UTC)).outcome.value

        with ThreadPoolExecutor(2) as pool:
            pair = sorted(pool.map(register, (first, second), (first_qr, second_qr)))
        outcomes.append(pair)
        owner = store.by_licence(first["licence_id"])[0]
        winner = first if owner == first["registration_no"] else second
        assert store.get(winner["registration_no"]) is not None
        assert store.get((second if winner is first else first)["registration_no"]) is None
    assert outcomes == [["conflict", "created"]] * 8


def test_an_identifier_already_indexed_is_a_conflict_never_an_overwrite(client, store, token, demo_keys):
    raw, qr = signed(demo_keys, 42)
    assert post(client, token, raw, qr).status_code == 201
    # the same issuer's second certificate under the same identifier: its own identifier, signed, but taken
    other, other_qr = signed(demo_keys, 43, licence_id=raw["licence_id"])
    refused = post(client, token, other, other_qr)
    assert refused.status_code == 409 and "电子证照标识" in refused.get_json()["message"]
    assert store.by_licence(raw["licence_id"]) == (raw["registration_no"], 1)
    assert store.get(other["registration_no"]) is None
    # bulk import: the same refusal per line, the rest of the batch goes in
    third, third_qr = signed(demo_keys, 44)
    changes = list(store.register_many([(Record.from_json(other), other_qr), (Record.from_json(third), third_qr)],
                                       "operator:import", datetime.now(UTC)))
    assert [c.outcome.value for c in changes] == ["conflict", "created"]
    assert store.by_licence(raw["licence_id"]) == (raw["registration_no"], 1)
    assert store.by_licence(third["licence_id"]) == (third["registration_no"], 1)


def test_a_number_in_another_issuers_space_is_refused_and_the_owner_registers_it(client, store, token, demo_keys):
    dalian_number = "辽B-DL-2025-00045"
    squat, squat_qr = signed(demo_keys, 45, registration_no=dalian_number)  # 沈阳's record and key
    refused = post(client, token, squat, squat_qr)
    assert refused.status_code == 422 and refused.get_json()["code"] == "number_outside_issuer_space"
    assert CHINESE_FIRST.match(refused.get_json()["message"])
    assert client.post("/api/v1/verify", json={"qr": squat_qr}).get_json()["signature"]["result"] == "invalid"
    dalian = store.create_token(DALIAN.code, datetime.now(UTC))[1]
    own, own_qr = signed(demo_keys, 45, city=DALIAN, registration_no=dalian_number)
    assert post(client, dalian, own, own_qr).status_code == 201
    assert client.post("/api/v1/verify", json={"qr": own_qr}).get_json()["verdict"]["ok"]


def test_a_retired_key_keeps_its_past_and_signs_nothing_new(config, data_dir, demo_keys, redis_url):
    retired_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    trust_path = data_dir / "trust" / "trust.json"
    listed = SignedTrustList.loads(trust_path.read_bytes()).verify(demo_keys.root.public_key())
    key = next(k for k in listed.keys if k.issuer == SHENYANG.code and k.role.value == "issuer")
    listed = listed.with_key(replace(key, state=KeyState.RETIRED, retired_at=retired_at))
    trust_path.write_bytes(SignedTrustList.sign(listed, demo_keys.root).dumps())
    app = create_app(config)
    client = app.test_client()
    token = app.extensions["crane"].store.create_token(SHENYANG.code, datetime.now(UTC))[1]
    before, before_qr = signed(demo_keys, 46, at=retired_at - timedelta(seconds=1))
    assert post(client, token, before, before_qr).status_code == 201
    assert client.post("/api/v1/verify", json={"qr": before_qr}).get_json()["verdict"]["ok"]
    after, after_qr = signed(demo_keys, 47, at=retired_at)
    refused = post(client, token, after, after_qr)
    assert refused.status_code == 422 and refused.get_json()["code"] == "signature_key_not_valid_at_issue"
    assert "retired" in refused.get_json()["message"] and CHINESE_FIRST.match(refused.get_json()["message"])
    answer = client.post("/api/v1/verify", json={"qr": after_qr}).get_json()
    assert answer["signature"]["result"] == "key_not_valid_at_issue" and not answer["verdict"]["ok"]


def test_issuer_api_messages_are_chinese_first_and_name_the_way_forward(client, store, token, demo_keys):
    raw, qr = signed(demo_keys, 48)
    post(client, token, raw, qr)
    reg = raw["registration_no"]
    status = f"/api/v1/issuer/certificates/{reg}/status"
    ended = client.post(f"/api/v1/issuer/certificates/{reg}/dismantling",
                        json={"completed_at": "2025-09-01T10:00:00+08:00"}, headers=auth(token))
    assert ended.status_code == 400 and ended.get_json()["code"] == "bad_notice"
    assert "notice_no" in ended.get_json()["message"] and CHINESE_FIRST.match(ended.get_json()["message"])
    suspended = client.post(status, json={"state": "suspended", "reason": "检查"}, headers=auth(token))
    assert suspended.status_code == 200
    refused = client.post(status, json={"state": "suspended", "reason": "检查"}, headers=auth(token)).get_json()
    assert refused["code"] == "transition_refused" and CHINESE_FIRST.match(refused["message"])
    assert "from suspended only to: revoked, valid, ended" in refused["message"]
    ended = client.post(f"/api/v1/issuer/certificates/{reg}/dismantling",
                        json={"completed_at": "2025-09-01T10:00:00+08:00", "notice_no": "辽A-CX-2025-0048"},
                        headers=auth(token))
    assert ended.status_code == 200
    final = client.post(status, json={"state": "valid", "reason": "x"}, headers=auth(token)).get_json()
    assert final["message"].startswith("不能将已终止的证书改为有效") and "ended is final" in final["message"]
    audit = client.get("/api/v1/issuer/audit", headers=auth(token)).get_json()["entries"]
    notice = [e for e in audit if e["action"] == "dismantling"]
    assert notice and notice[-1]["after"]["notice_no"] == "辽A-CX-2025-0048"
    history = client.get(f"/api/v1/issuer/certificates/{reg}", headers=auth(token)).get_json()["history"]
    assert history[-1]["notice_no"] == "辽A-CX-2025-0048"
    bad = post(client, token, {**raw, "registration_no": "辽A-\u200dSY-1"}, qr).get_json()
    assert bad["code"] == "invalid_record" and CHINESE_FIRST.match(bad["message"])
    assert "registration_no" in bad["message"] and "U+200D" in bad["message"]


def test_a_replayed_correction_is_unchanged_like_a_replayed_registration(client, token, demo_keys):
    raw, qr = signed(demo_keys, 49)
    post(client, token, raw, qr)
    raw2 = {**raw, "version": 2, "licence_id": str(replace(LicenceId.parse(raw["licence_id"]), version=2)),
            "project": {**raw["project"], "position": "9#楼西侧"}}
    qr2 = issue(Record.from_json(raw2), demo_keys.issuers[SHENYANG.code], URL, SIGNED_AT)
    url = f"/api/v1/issuer/certificates/{raw['registration_no']}/corrections"
    first = post(client, token, raw2, qr2, path=url, reason="更正安装位置")
    assert first.status_code == 201
    again = post(client, token, raw2, qr2, path=url, reason="更正安装位置")
    assert again.status_code == 200 and again.get_json()["outcome"] == "unchanged"
    other = {**raw2, "project": {**raw2["project"], "position": "10#楼"}}
    other_qr = issue(Record.from_json(other), demo_keys.issuers[SHENYANG.code], URL, SIGNED_AT)
    conflict = post(client, token, other, other_qr, path=url, reason="再更正")
    assert conflict.status_code == 409 and CHINESE_FIRST.match(conflict.get_json()["message"])


def test_a_credit_code_from_the_trust_list_not_the_record_decides(client, token, demo_keys):
    """The record may carry another authority's credit code in its optional issuer.credit_code: it is unsigned,
    so it proves nothing; the identifier must match the signer's code as the trust list states it."""
    raw = sample_record(random.Random(50), 50, city=SHENYANG)
    raw["issuer"]["credit_code"] = authority_credit_code(DALIAN)
    raw["licence_id"] = str(LicenceId(CRANE_TYPE_CODE, authority_credit_code(DALIAN), "2025000050", 1))
    qr = issue(Record.from_json(raw), demo_keys.issuers[SHENYANG.code], URL, SIGNED_AT)  # self-consistent record
    refused = post(client, token, raw, qr)
    assert refused.status_code == 422 and refused.get_json()["code"] == "licence_id_of_another_issuer"


def test_bulk_import_refuses_other_issuers_numbers_and_identifiers_line_by_line(run, demo_keys, tmp_path, store):  # noqa: F811
    squat, squat_qr = signed(demo_keys, 51, registration_no="辽B-DL-2025-00051")
    hijack = sample_record(random.Random(52), 52, city=SHENYANG)
    del hijack["issuer"]["credit_code"]
    hijack["licence_id"] = str(LicenceId(CRANE_TYPE_CODE, authority_credit_code(DALIAN), "2025000052", 1))
    hijack_qr = issue(Record.from_json(hijack), demo_keys.issuers[SHENYANG.code], URL, SIGNED_AT)
    good, good_qr = signed(demo_keys, 53)
    path = tmp_path / "import.jsonl"
    path.write_text("\n".join(json.dumps({"record": r, "qr_text": q}, ensure_ascii=False)
                              for r, q in ((squat, squat_qr), (hijack, hijack_qr), (good, good_qr))), "utf-8")
    out = run("import", str(path), expect=ExitStatus.NOT_OK)
    assert out[-1] == "imported 1, already present 0, rejected 2"
    said = " ".join([*out, run.err])
    assert re.search(r"line 1: rejected: .*编号范围", said) and re.search(r"line 2: rejected: .*电子证照标识的发证机关部分", said)
    assert store.get(squat["registration_no"]) is None and store.get(good["registration_no"]) is not None
