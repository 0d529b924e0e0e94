"""Uploading inspection records: stored once per id, each re-verified and flagged, bad ones refused alone."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from keys.answer import State
from verify_api.store.tokens import Role

from .conftest import bearer, by_state, jpeg, make_token, record


def post(client, token: str, records: list[dict], **kw):
    return client.post("/api/v1/inspections", json={"inspections": records}, headers=bearer(token), **kw)


def read_all(client, token: str) -> list[dict]:
    out, since = [], "0"
    while True:
        body = client.get(f"/api/v1/inspections?since={since}&limit=7", headers=bearer(token)).get_json()
        out += body["inspections"]
        since = body["next"]
        if not body["more"]:
            return out


def codes(result: dict) -> list[str]:
    return [f["code"] for f in result["flags"]]


def test_the_same_batch_three_times_is_stored_once_and_read_back_once_each(client, manifest, inspector, supervisor,
                                                                           clock):
    valid = by_state(manifest, "valid")
    batch = [record(c["qr_text"], clock) for c in valid[:12]]
    outcomes = [[r["outcome"] for r in post(client, inspector, batch).get_json()["results"]] for _ in range(3)]
    assert outcomes == [["stored"] * 12, ["duplicate"] * 12, ["duplicate"] * 12]
    read = read_all(client, supervisor)
    assert sorted(r["id"] for r in read) == sorted(r["id"] for r in batch)
    first = read[0]
    assert first["found"]["state"] == "valid" and first["inspector"]["region"] == "21"
    assert "photo" not in first and first["received_at"] and first["flags"] == []


def test_status_changed_when_offline_data_showed_a_revoked_certificate_as_valid(client, manifest, inspector, clock):
    revoked, valid = by_state(manifest, "revoked")[0], by_state(manifest, "valid")[0]
    results = post(client, inspector, [record(revoked["qr_text"], clock, state="valid"),
                                       record(valid["qr_text"], clock, state="valid")]).get_json()["results"]
    assert "status_changed" in codes(results[0])
    assert codes(results[1]) == []
    flag = results[0]["flags"][0]
    assert flag["zh"].startswith("现场显示") and "status" in flag["en"]


def test_each_finding_is_flagged(client, manifest, clock, store):
    inspector = make_token(store, Role.INSPECTOR, "2101", "张三", clock)  # 沈阳: certificates 辽A
    def of_shenyang(state: str) -> dict:
        return next(c for c in by_state(manifest, state) if c["registration_no"].startswith("辽A"))

    ended, superseded = of_shenyang("ended"), of_shenyang("superseded")
    valid = by_state(manifest, "valid")
    outside = next(c for c in valid if not c["registration_no"].startswith("辽A"))
    shenyang = [c for c in valid if c["registration_no"].startswith("辽A")]
    text = shenyang[0]["qr_text"]
    tampered = text[:-6] + ("A" if text[-6] != "A" else "B") + text[-5:]
    site_a = {"lat": 41.80, "lon": 123.43, "accuracy_m": 8}
    site_b = {"lat": 41.85, "lon": 123.50, "accuracy_m": 8}  # about 7 km away
    batch = [
        record(ended["qr_text"], clock, state="ended"),
        record(superseded["qr_text"], clock, state="superseded"),
        record(shenyang[1]["qr_text"], clock, plate={"record_no": "mismatch", "factory_serial": "match"}),
        record(tampered, clock, state="unknown", signature="invalid"),
        record(shenyang[2]["qr_text"], clock, location=site_a),
        record(shenyang[2]["qr_text"], clock, location=site_b),
        record(shenyang[3]["qr_text"], clock, location=site_a),
        record(shenyang[3]["qr_text"], clock, location={"lat": 41.8001, "lon": 123.4301}),  # same site
        record(outside["qr_text"], clock),
    ]
    results = post(client, inspector, batch).get_json()["results"]
    assert [r["outcome"] for r in results] == ["stored"] * len(batch)
    found = [codes(r) for r in results]
    assert found[0] == ["ended_in_use"]
    assert found[1] == ["superseded_in_use"]
    assert found[2] == ["plate_mismatch"]
    assert "signature_invalid" in found[3]
    assert found[4] == [] and found[5] == ["two_sites"]
    assert found[6] == [] and found[7] == []
    assert found[8] == ["outside_region"]
    # a check a day and a half later at the other site is no longer "two sites within a day"
    clock.advance(hours=36)
    later = post(client, inspector, [record(shenyang[2]["qr_text"], clock, location=site_a)]).get_json()["results"]
    assert codes(later[0]) == []


def test_a_bad_record_is_refused_by_name_and_the_rest_kept(client, manifest, inspector, clock):
    valid = by_state(manifest, "valid")
    good = record(valid[0]["qr_text"], clock)
    bad_state = record(valid[1]["qr_text"], clock, shown={"state": "fine", "signature": "valid", "mode": "offline"})
    no_id = record(valid[2]["qr_text"], clock, id="not-a-uuid")
    future = record(valid[3]["qr_text"], clock, checked_at=(clock.now + timedelta(hours=2)).isoformat())
    naive = record(valid[4]["qr_text"], clock, checked_at="2026-03-02T09:00:00")
    bad_photo = record(valid[5]["qr_text"], clock, photo=b"GIF89a not a jpeg")
    results = post(client, inspector, [good, bad_state, no_id, future, naive, bad_photo, "nonsense"]).get_json()[
        "results"]
    assert [r["outcome"] for r in results] == ["stored"] + ["refused"] * 6
    reasons = [r["reason"] for r in results[1:]]
    assert reasons[0].startswith("shown.state: 须为以下之一")
    assert reasons[1].startswith("id: ") and results[2]["id"] == "not-a-uuid"
    assert reasons[2].startswith("checked_at: 晚于服务器当前时间") and "future" in reasons[2]
    assert reasons[3].startswith("checked_at: 须为带时区的 RFC 3339")
    assert reasons[4].startswith("photo: 照片须为 JPEG")
    assert reasons[5].startswith("记录须为 JSON 对象")


def test_hostile_batches_get_a_4xx_with_a_clear_message(client, manifest, inspector, clock):
    text = by_state(manifest, "valid")[0]["qr_text"]
    many = post(client, inspector, [record(text, clock)] * 10_000)
    assert many.status_code == 413 and many.get_json()["code"] == "too_many_records"
    assert "至多 500" in many.get_json()["message"]
    huge = post(client, inspector, [record(text, clock, photo=b"\xff\xd8\xff" + b"\0" * (20 * 1024 * 1024))])
    assert huge.status_code == 413
    big_photo = post(client, inspector, [record(text, clock, photo=jpeg((2000, 1500), noise=True))])
    assert big_photo.status_code == 422
    assert big_photo.get_json()["results"][0]["reason"] == "photo: 照片超过 2 MB / photo larger than 2 MB"
    bad_json = client.post("/api/v1/inspections", data=b'{"inspections": [', headers={
        **bearer(inspector), "Content-Type": "application/json"})
    assert bad_json.status_code == 400 and "JSON" in bad_json.get_json()["message"]
    all_future = post(client, inspector, [record(text, clock, checked_at="2099-01-01T00:00:00Z")])
    assert all_future.status_code == 422 and all_future.get_json()["code"] == "all_refused"
    assert all_future.get_json()["message"].startswith("checked_at: 晚于服务器当前时间")
    assert post(client, inspector, []).status_code == 400
    assert client.post("/api/v1/inspections", json={"inspections": "x"}, headers=bearer(inspector)).status_code == 400


def test_a_photo_is_kept_as_a_file_never_in_redis(client, manifest, inspector, supervisor, clock, redis_client,
                                                  data_dir):
    picture = jpeg((320, 240), noise=True)
    item = record(by_state(manifest, "valid")[0]["qr_text"], clock, photo=picture)
    assert post(client, inspector, [item]).get_json()["results"][0]["outcome"] == "stored"
    files = list((data_dir / "photos").rglob("*.jpg"))
    assert len(files) == 1 and files[0].read_bytes() == picture
    assert not any(picture[:200] in (redis_client.dump(k) or b"") for k in redis_client.keys("crane:{i:*"))
    assert read_all(client, supervisor)[0]["has_photo"] is True


def test_only_live_inspector_tokens_upload(client, manifest, store, clock, inspector):
    batch = [record(by_state(manifest, "valid")[0]["qr_text"], clock)]
    assert post(client, "crv_000000000000_" + "x" * 43, batch).status_code == 401
    assert client.post("/api/v1/inspections", json={"inspections": batch}).status_code == 401
    issuer = store.create_token("210100", clock.now)[1]
    assert post(client, issuer, batch).status_code == 403
    supervisor = make_token(store, Role.SUPERVISOR, "21", clock=clock)
    assert post(client, supervisor, batch).status_code == 403
    # an inspector's token is no issuer token
    assert client.get("/api/v1/issuer/audit", headers=bearer(inspector)).status_code == 401
    clock.advance(days=181)
    assert post(client, inspector, [record(batch[0]["qr"], clock)]).status_code == 401
    fresh_id, fresh = store.create_token("2101", clock.now, role=Role.INSPECTOR, name="王五",
                                         expires_at=clock.now + timedelta(days=180))
    assert post(client, fresh, [record(batch[0]["qr"], clock)]).status_code == 200
    store.revoke_token(fresh_id, clock.now)
    assert post(client, fresh, [record(batch[0]["qr"], clock)]).status_code == 401


def test_a_region_scoped_supervisor_reads_only_its_region(client, manifest, store, clock):
    valid = by_state(manifest, "valid")
    inspector = make_token(store, Role.INSPECTOR, "2101", "张三", clock)
    dalian_inspector = make_token(store, Role.INSPECTOR, "2102", "赵六", clock)
    mine = [record(c["qr_text"], clock) for c in valid[:3]]
    theirs = [record(c["qr_text"], clock) for c in valid[3:5]]
    post(client, inspector, mine)
    post(client, dalian_inspector, theirs)
    shenyang = make_token(store, Role.SUPERVISOR, "2101", "沈阳", clock)
    dalian = make_token(store, Role.SUPERVISOR, "2102", "大连", clock)
    province = make_token(store, Role.SUPERVISOR, "21", "辽宁", clock)
    beijing = make_token(store, Role.SUPERVISOR, "11", "北京", clock)
    assert {r["id"] for r in read_all(client, shenyang)} == {r["id"] for r in mine}
    assert {r["id"] for r in read_all(client, dalian)} == {r["id"] for r in theirs}
    assert len(read_all(client, province)) == 5
    assert read_all(client, beijing) == []
    assert client.get("/api/v1/inspections", headers=bearer(inspector)).status_code == 403
    assert client.get("/api/v1/inspections?since=x", headers=bearer(province)).status_code == 400


def test_names_and_phone_numbers_are_masked_unless_the_role_allows(client, manifest, store, clock, inspector):
    note = "联系现场负责人 13912345678"
    post(client, inspector, [record(by_state(manifest, "valid")[0]["qr_text"], clock, note=note)])
    masked = read_all(client, make_token(store, Role.SUPERVISOR, "21", clock=clock))[0]
    assert masked["inspector"]["name"] == "张*" and "13912345678" not in json.dumps(masked, ensure_ascii=False)
    allowed = read_all(client, make_token(store, Role.SUPERVISOR, "21", clock=clock, personal_data=True))[0]
    assert allowed["inspector"]["name"] == "张三" and allowed["note"] == note


def test_concurrent_retries_store_each_record_once(app, manifest, inspector, supervisor, clock):
    import urllib.request

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        batch = [record(c["qr_text"], clock) for c in by_state(manifest, "valid")[:10]]
        body = json.dumps({"inspections": batch}).encode()

        def send(_: int) -> list[str]:
            req = urllib.request.Request(f"http://127.0.0.1:{server.server_port}/api/v1/inspections", data=body,
                                         headers={"Content-Type": "application/json", **bearer(inspector)})
            with urllib.request.urlopen(req, timeout=30) as response:
                return [r["outcome"] for r in json.loads(response.read())["results"]]

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(send, range(6)))
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
    stored = [sum(a[i] == "stored" for a in answers) for i in range(10)]
    assert stored == [1] * 10
    assert len(read_all(app.test_client(), supervisor)) == 10


def test_metrics_count_records_and_flags(client, manifest, inspector, clock):
    def value(text: str, name: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))

    before = client.get("/metrics").get_data(as_text=True)
    revoked = by_state(manifest, "revoked")[0]["qr_text"]
    batch = [record(revoked, clock), record(by_state(manifest, "valid")[0]["qr_text"], clock)]
    post(client, inspector, batch)
    post(client, inspector, batch)  # duplicates are not counted again
    after = client.get("/metrics").get_data(as_text=True)
    assert value(after, "crane_inspections_received_total") - value(before, "crane_inspections_received_total") == 2
    flag = 'crane_inspection_flags_total{code="status_changed"}'
    assert value(after, flag) - value(before, flag) == 1


@pytest.mark.parametrize("state", [State.VALID])
def test_cors_lets_the_phone_app_upload_from_another_origin(client, state):
    response = client.options("/api/v1/inspections", headers={"Origin": "https://app.example",
                                                              "Access-Control-Request-Method": "POST"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert str(uuid.uuid4())  # ids are the client's, made once per check


def test_answers_fit_the_published_schemas(client, manifest, inspector, supervisor, clock):
    import jsonschema

    from verify_api.openapi import spec

    document = spec("https://verify.example.cn")

    def fits(name: str, body: dict) -> None:
        jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                         "components": document["components"]}).validate(body)

    revoked = by_state(manifest, "revoked")[0]
    batch = [record(revoked["qr_text"], clock, location={"lat": 41.8, "lon": 123.4, "accuracy_m": 5}, photo=jpeg()),
             record("HTTPS://ELSEWHERE.EXAMPLE/X", clock), record("x", clock, id="nope")]
    fits("InspectionBatch", {"inspections": batch[:2]})
    fits("UploadResults", post(client, inspector, batch).get_json())
    page = client.get("/api/v1/inspections", headers=bearer(supervisor)).get_json()
    assert len(page["inspections"]) == 2
    fits("InspectionPage", page)
    operations = document["paths"]["/api/v1/inspections"]
    assert operations["post"]["security"] == [{"inspectorToken": []}]
    assert operations["get"]["security"] == [{"supervisorToken": []}]
    assert "/api/v1/enrol" in document["paths"]


def test_an_id_another_inspector_stored_is_refused_not_taken_as_sent(app, client, manifest, store, inspector,
                                                                     supervisor, clock):
    other = make_token(store, Role.INSPECTOR, "21", "王五", clock)
    valid = by_state(manifest, "valid")
    mine = record(valid[0]["qr_text"], clock)
    assert post(client, inspector, [mine]).get_json()["results"][0]["outcome"] == "stored"
    theirs = {**record(valid[1]["qr_text"], clock), "id": mine["id"]}
    [result] = post(client, other, [theirs]).get_json()["results"]
    assert result["outcome"] == "refused" and result["reason"].startswith("id: 此编号已被其他记录使用")
    assert "id already used by another record" in result["reason"]
    assert post(client, inspector, [mine]).get_json()["results"][0]["outcome"] == "duplicate"  # a retry as before
    [kept] = read_all(client, supervisor)
    assert kept["found"]["registration_no"] == valid[0]["registration_no"]

    # Two inspectors sending the same new ids at the same moment: one stores each id, the other is refused.
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        batch = [record(c["qr_text"], clock) for c in valid[2:8]]

        def send(token: str) -> list[str]:
            req = urllib.request.Request(f"http://127.0.0.1:{server.server_port}/api/v1/inspections",
                                         data=json.dumps({"inspections": batch}).encode(),
                                         headers={"Content-Type": "application/json", **bearer(token)})
            try:
                with urllib.request.urlopen(req, timeout=30) as response:
                    body = response.read()
            except urllib.error.HTTPError as exc:  # 422: every record of the batch refused
                assert exc.code == 422
                body = exc.read()
            return [r["outcome"] for r in json.loads(body)["results"]]

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, [inspector, other, inspector, other]))
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
    for i in range(len(batch)):
        outcomes = sorted(a[i] for a in answers)
        assert outcomes.count("stored") == 1 and outcomes.count("refused") == 2, outcomes
