import io
import json
import random
from datetime import UTC, datetime

import pytest

from keys.cli_env import Environment, ExitStatus
from keys.payload import issue
from keys.record import Record
from keys.samples import CITIES, sample_record
from verify_api.cli import main

SIGNED_AT = datetime(2025, 5, 1, 2, tzinfo=UTC)


@pytest.fixture
def run(data_dir, redis_url):
    def call(*args: str, expect=ExitStatus.OK, stdin: str | None = None):
        out, err = io.StringIO(), io.StringIO()
        env = Environment(stdout=out, stderr=err, vars={"REDIS_URL": redis_url, "CRANE_DATA_DIR": str(data_dir)},
                          stdout_isatty=False)
        status = main(list(args), env)
        call.err = err.getvalue()
        assert status == expect, (status, out.getvalue(), err.getvalue())
        return out.getvalue().splitlines()
    return call


def _lines(demo_keys, count):
    rng = random.Random(77)
    lines = []
    for i in range(count):
        city = CITIES[i % 3]
        raw = sample_record(rng, 5000 + i, city=city)
        text = issue(Record.from_json(raw), demo_keys.issuers[city.code], "https://v.example.cn", SIGNED_AT)
        lines.append(json.dumps({"record": raw, "qr_text": text}, ensure_ascii=False))
    paper = sample_record(rng, 6000, city=CITIES[0], paper=True,
                          issued_on=datetime(2024, 3, 1).date())
    lines.append(json.dumps({"record": paper}, ensure_ascii=False))
    return lines


def test_import_reports_each_rejected_line_and_goes_on(run, demo_keys, tmp_path, store):
    good = _lines(demo_keys, 30)
    mismatched = json.loads(good[0])
    mismatched["record"]["equipment"]["factory_serial"] = "0000-0000"
    stranger_signed = json.loads(good[1])
    stranger_signed["qr_text"] = stranger_signed["qr_text"][:-8] + "AAAAAAAA"
    lines = good + ["{oops", json.dumps(mismatched, ensure_ascii=False), json.dumps(stranger_signed),
                    json.dumps({"record": {"registration_no": "x"}}), ""]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines), "utf-8")
    out = run("import", str(path), expect=ExitStatus.NOT_OK)
    assert out[-1] == "imported 31, already present 0, rejected 4"
    for n in (32, 33, 34, 35):
        assert f"line {n}: rejected" in run.err
    assert "not JSON" in run.err and "factory_serial" in run.err and "equipment: 必填 / is required" in run.err
    again = run("import", str(path), expect=ExitStatus.NOT_OK)
    assert again[-1] == "imported 0, already present 31, rejected 4"
    assert store.get(json.loads(good[-1])["record"]["registration_no"]).state.value == "paper_legacy"
    assert len([e for e in store.feed() if e.registration_no.endswith(("5000", "5029"))]) == 2


def test_status_and_tokens(run, demo_keys, tmp_path, store):
    path = tmp_path / "one.jsonl"
    line = _lines(demo_keys, 1)[0]
    path.write_text(line, "utf-8")
    run("import", str(path))
    reg = json.loads(line)["record"]["registration_no"]
    assert run("status", reg, "suspended", "--reason", "停用整改")[-1] == f"{reg} v1: suspended -> suspended".replace(
        "suspended -> suspended", "valid -> suspended")
    run("status", reg, "valid", "--reason", "整改完成")
    run("status", reg, "ended", "--reason", "拆除")
    run("status", reg, "valid", "--reason", "x", expect=ExitStatus.ERROR)
    assert "不能将已终止的证书改为有效" in run.err and "cannot change an ended certificate" in run.err
    run("status", "辽A-NOPE", "ended", "--reason", "x", expect=ExitStatus.ERROR)

    out = run("token", "create", "--issuer", "210100")
    token = out[-1]
    token_id = out[0].split()[1]
    assert store.check_token(token, datetime.now(UTC)) == (token_id, "210100")
    run("token", "revoke", token_id)
    assert store.check_token(token, datetime.now(UTC)) is None
    run("token", "revoke", "nope", expect=ExitStatus.ERROR)
    run("token", "create", "--issuer", "21", expect=ExitStatus.ERROR)
    run("token", "create", "--issuer", "210400", expect=ExitStatus.ERROR)  # a real code the trust list lacks
    assert "信任列表中没有发证机关 210400" in run.err and "not in the trust list" in run.err


def test_demo_is_idempotent(run, data_dir):
    first = run("demo")
    assert first[0].startswith("5") and "new demo certificates" in first[0]
    manifest = json.loads((data_dir / "demo" / "manifest.json").read_text("utf-8"))
    assert run("demo")[0] == "0 new demo certificates registered"
    assert json.loads((data_dir / "demo" / "manifest.json").read_text("utf-8")) == manifest


def _bare(args: list[str], data_dir) -> tuple[ExitStatus, str, str]:
    """The CLI as a new user meets it: no REDIS_URL, the data directory's own embedded server."""
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, vars={"CRANE_DATA_DIR": str(data_dir)}, stdout_isatty=False)
    return main(args, env), out.getvalue(), err.getvalue()


def test_a_mistyped_data_directory_is_a_sentence_and_creates_nothing(tmp_path):
    typo = tmp_path / "typo"
    for args in (["status", "辽A-SY-2099-99999", "suspended", "--reason", "test", "--data-dir", str(typo)],
                 ["token", "revoke", "abcdef012345", "--data-dir", str(typo)],
                 ["import", "-", "--data-dir", str(typo)]):
        status, _, err = _bare(args, typo)
        assert status == ExitStatus.ERROR
        assert "尚未建立" in err and "has never been set up" in err and "crane-verify init" in err, err
        assert err.index("尚未建立") < err.index("has never been set up")
        assert "Traceback" not in err
        assert not typo.exists()


def test_init_sets_a_directory_up_and_an_unknown_number_is_a_sentence(tmp_path):
    data = tmp_path / "data"
    status, out, _ = _bare(["init", "--data-dir", str(data)], data)
    assert status == ExitStatus.OK and "registry ready" in out and "role feed" in out
    assert (data / "redis" / "server.json").is_file() and (data / "keys" / "feed.key.pem").is_file()
    status, _, err = _bare(["status", "辽A-SY-2099-99999", "suspended", "--reason", "test"], data)
    assert status == ExitStatus.ERROR
    assert "没有使用登记编号为 辽A-SY-2099-99999 的证书" in err and "no certificate with registration number" in err
    assert "not_found" not in err


def test_usage_errors_say_where_to_look_in_chinese_first(tmp_path):
    status, _, err = _bare(["status", "辽A-SY-2099-99999"], tmp_path)
    assert status == ExitStatus.ERROR
    assert "用法有误" in err and "crane-verify --help" in err and "usage error" in err
