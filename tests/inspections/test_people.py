"""People and their tokens: made with the CLI, handed to a phone once by an enrolment QR, kept for a time;
records and photos kept for their retention and purged by the clock."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from keys.cli_env import Environment, ExitStatus
from qrdecode.decode import decode_paths
from verify_api.cli import main
from verify_api.config import Config, ConfigError
from verify_api.inspections import Parts, Retention, purge
from verify_api.inspections.access import Enrolments
from verify_api.store.results import StoreUnavailable
from verify_api.store.tokens import Role
from verify_api.store.transport import Transport

from .conftest import bearer, by_state, jpeg, record


@pytest.fixture
def run(data_dir, redis_url, clock):
    def call(*args: str, expect=ExitStatus.OK, **extra: str):
        out, err = io.StringIO(), io.StringIO()
        env = Environment(stdout=out, stderr=err, stdout_isatty=False, now=clock, vars={
            "REDIS_URL": redis_url, "CRANE_DATA_DIR": str(data_dir), "CRANE_PUBLIC_URL": "https://verify.example.cn",
            **extra})
        status = main(list(args), env)
        assert status == expect, (status, out.getvalue(), err.getvalue())
        call.err = err.getvalue()
        return out.getvalue().splitlines()
    return call


def test_cli_makes_inspector_and_supervisor_tokens_the_last_line_is_the_token(run, store, clock):
    inspector = run("token", "create", "--role", "inspector", "--region", "2101", "--name", "张三")
    found = store.principal(inspector[-1], clock.now)
    assert (found.role, found.scope, found.name) == (Role.INSPECTOR, "2101", "张三")
    assert found.expires_at == clock.now + timedelta(days=180)
    supervisor = run("token", "create", "--role", "supervisor", "--region", "21", "--days", "30")
    assert store.principal(supervisor[-1], clock.now).role is Role.SUPERVISOR
    assert store.principal(supervisor[-1], clock.now + timedelta(days=30)) is None  # expired
    assert store.check_token(inspector[-1], clock.now) is None  # not an issuer token
    issuer = run("token", "create", "--issuer", "210100")
    assert store.check_token(issuer[-1], clock.now) == (issuer[0].split()[1], "210100")  # issuer tokens as before
    run("token", "create", "--role", "inspector", "--region", "2", expect=ExitStatus.ERROR)
    run("token", "create", "--role", "inspector", "--issuer", "210100", expect=ExitStatus.ERROR)
    run("token", "revoke", inspector[0].split()[1])
    assert store.principal(inspector[-1], clock.now) is None


def test_cli_refuses_enrolment_and_personal_data_for_the_wrong_role(run, store, redis_client):
    before = len(redis_client.keys("*{t:*"))
    run("token", "create", "--issuer", "210100", "--enrol", expect=ExitStatus.ERROR)
    assert "--enrol 只用于检查员令牌" in run.err and "inspector tokens only" in run.err
    run("token", "create", "--role", "supervisor", "--region", "21", "--enrol", expect=ExitStatus.ERROR)
    run("token", "create", "--role", "inspector", "--region", "21", "--personal-data", expect=ExitStatus.ERROR)
    assert "--personal-data 只用于监督人员令牌" in run.err
    run("token", "create", "--issuer", "210100", "--personal-data", expect=ExitStatus.ERROR)
    assert len(redis_client.keys("*{t:*")) == before  # nothing made


def test_an_enrolment_qr_gives_the_token_to_one_phone_once(run, client, clock, tmp_path):
    png = tmp_path / "enrol.png"
    out = run("token", "create", "--role", "inspector", "--region", "2101", "--name", "张三", "--enrol",
              "--qr-png", str(png))
    token = out[-1]
    text = next(line for line in out if line.startswith("enrolment QR: ")).removeprefix("enrolment QR: ")
    assert text.startswith("HTTPS://VERIFY.EXAMPLE.CN/E/") and text == text.upper()
    assert token not in text
    [(_, codes)] = decode_paths([str(png)])
    assert [c.text for c in codes] == [text]  # the PNG holds the text, readable by a camera
    first = client.post("/api/v1/enrol", json={"code": text})
    assert first.status_code == 200
    body = first.get_json()
    assert body["token"] == token and body["role"] == "inspector" and body["region"] == "2101"
    assert body["name"] == "张三" and body["expires_at"].startswith(str((clock.now + timedelta(days=180)).date()))
    again = client.post("/api/v1/enrol", json={"code": text})
    assert again.status_code == 404 and again.get_json()["message"].startswith("登记码无效、已使用或已过期")
    # a code left unused expires after ten minutes
    late = run("token", "create", "--role", "inspector", "--region", "21", "--enrol", "--qr-png", str(png))
    code = next(line for line in late if line.startswith("enrolment QR: ")).rsplit("/", 1)[1]
    clock.advance(minutes=11)
    assert client.post("/api/v1/enrol", json={"code": code}).status_code == 404
    assert client.post("/api/v1/enrol", json={"code": 5}).status_code == 404
    landing = client.get("/E/" + code)
    assert landing.status_code == 303 and landing.headers["Location"] == f"/scan/#enrol={code}"


def test_enrolment_codes_cannot_be_guessed_at_length(app, client):
    # 20 wrong codes a minute from one address, then 429
    statuses = [client.post("/api/v1/enrol", json={"code": "A" * 26}).status_code for _ in range(21)]
    assert statuses[:20] == [404] * 20 and statuses[20] == 429


def test_records_and_photos_are_purged_after_their_retention(app, client, manifest, inspector, supervisor, clock,
                                                             store, data_dir):
    config = app.extensions["crane"].config
    parts = Parts.of(store, config, Retention(records=timedelta(days=300), photos=timedelta(days=120)))
    text = by_state(manifest, "valid")[0]["qr_text"]
    old = record(text, clock, photo=jpeg())
    client.post("/api/v1/inspections", json={"inspections": [old]}, headers=bearer(inspector))
    clock.advance(days=100)
    newer = record(text, clock, photo=jpeg())
    client.post("/api/v1/inspections", json={"inspections": [newer]}, headers=bearer(inspector))
    assert purge(parts, clock.now) == (0, 0)
    clock.advance(days=50)  # the first photo is 150 days old, the second 50
    assert purge(parts, clock.now) == (0, 1)
    assert parts.records.get("21", old["id"]) is not None
    assert parts.photos.get(parts.records.get("21", old["id"]).photo) is None
    assert parts.photos.get(parts.records.get("21", newer["id"]).photo) is not None
    clock.advance(days=160)  # the first record is 310 days old, the second 210 (its photo past 120)
    assert purge(parts, clock.now) == (1, 1)
    assert parts.records.get("21", old["id"]) is None and parts.records.get("21", newer["id"]) is not None
    assert len(list((data_dir / "photos").rglob("*.jpg"))) == 0
    assert [i.record.id for i in parts.records.of_certificate("21", by_state(manifest, "valid")[0][
        "registration_no"])] == [newer["id"]]


def test_the_purge_command_uses_the_configured_retention(run, client, manifest, inspector, clock):
    client.post("/api/v1/inspections", json={"inspections": [record(by_state(manifest, "valid")[0]["qr_text"],
                                                                    clock)]}, headers=bearer(inspector))
    clock.advance(days=20)
    assert run("inspections", "purge")[-1].endswith("/ purged 0 inspection records and 0 photos")
    assert run("inspections", "purge", CRANE_INSPECTION_RETENTION_DAYS="10")[-1] == \
        "已删除 1 条检查记录、0 张照片 / purged 1 inspection records and 0 photos"


@pytest.mark.parametrize("value", ["三年", "0", "-5", "1.5", "10d"])
def test_a_bad_retention_setting_is_a_sentence_at_startup_not_a_traceback(run, value):
    for name in ("CRANE_INSPECTION_RETENTION_DAYS", "CRANE_PHOTO_RETENTION_DAYS"):
        run("inspections", "purge", expect=ExitStatus.ERROR, **{name: value})
        assert run.err.startswith(f"crane-verify: error: {name} 须为不小于 1 的整数天数")
        assert "must be a whole number of days" in run.err and "Traceback" not in run.err
        with pytest.raises(ConfigError, match=name):
            Config.from_env({name: value})


def test_an_enrolment_code_is_used_up_through_the_write_path(store, redis_url, clock, inspector):
    # The one-time use is a change of the store: it waits for replicas like every write. With a replica asked for
    # and none there, the use is not acknowledged (and not answered with the token).
    code = Enrolments(store.transport).create(inspector, clock.now)
    with pytest.raises(StoreUnavailable):
        Enrolments(Transport(redis_url, replicas=1, wait_ms=10)).redeem(code, clock.now)
    second = Enrolments(store.transport).create(inspector, clock.now)
    assert Enrolments(store.transport).redeem(second, clock.now) == inspector
    assert Enrolments(store.transport).redeem(second, clock.now) is None
