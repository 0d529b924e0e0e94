import io
import json
import random
import stat
from datetime import UTC, datetime

import pytest
import segno
from PIL import Image

from keys.cli import main
from keys.cli_env import Environment, ExitStatus
from keys.samples import CITIES, authority_credit_code, sample_record


class Run:
    def __init__(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        self.env_vars = {"KEY_PASS": "s3cret"}

    def __call__(self, *args: str, expect: ExitStatus = ExitStatus.OK) -> list[str]:
        out, err = io.StringIO(), io.StringIO()
        env = Environment(stdout=out, stderr=err, vars=self.env_vars,
                          now=lambda: datetime(2026, 11, 24, 2, tzinfo=UTC), stdout_isatty=False)
        status = main(list(args), env)
        self.err = err.getvalue()
        assert status == expect, (status, out.getvalue(), self.err)
        return out.getvalue().splitlines()


@pytest.fixture
def run(tmp_path, monkeypatch):
    return Run(tmp_path, monkeypatch)


def _setup(run, tmp_path, alg="EdDSA"):
    run("generate", "--root", "--out", "keys")
    kid = run("generate", "--issuer", "210100", "--alg", alg, "--out", "keys")[-1]
    assert len(kid) == 16 and int(kid, 16) >= 0
    city = CITIES[0]
    run("trust", "add", f"keys/{kid}.pub.pem", "--issuer", city.code, "--name", city.authority,
        "--credit-code", authority_credit_code(city), "--trust", "trust.json")
    run("trust", "sign", "--trust", "trust.json", "--root-key", "keys/root.key.pem")
    record = sample_record(random.Random(5), 456, city=city)
    (tmp_path / "record.json").write_text(json.dumps(record, ensure_ascii=False), "utf-8")
    return kid, record


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "SM2"])
def test_the_whole_path_with_the_commands_only(run, tmp_path, alg):
    kid, record = _setup(run, tmp_path, alg)
    assert stat.S_IMODE((tmp_path / "keys/root.key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / f"keys/{kid}.key.pem").stat().st_mode) == 0o600
    lines = run("issue", "record.json", "--key", f"keys/{kid}.key.pem", "--base-url", "https://verify.example.cn",
                "--png", "qr.png", "--svg", "qr.svg")
    text = lines[-1]
    assert text.startswith("HTTPS://VERIFY.EXAMPLE.CN/V/")
    assert segno.make(text, error="m").version <= 13
    assert Image.open(tmp_path / "qr.png").size[0] > 100
    assert (tmp_path / "qr.svg").read_text().startswith("<?xml")

    out = run("verify", text, "--trust", "trust.json", "--root-pub", "keys/root.pub.pem")
    assert "签名有效" in out[0] and "Signature valid" in out[0]
    assert record["registration_no"] in out[1]
    as_json = json.loads(run("verify", text, "--trust", "trust.json", "--root-pub", "keys/root.pub.pem", "--json")[0])
    assert as_json["result"] == "valid" and as_json["kid"] == kid and as_json["alg"] == alg
    assert as_json["issuer"] == {"code": "210100", "name": "沈阳市城乡建设局"}
    assert as_json["claims"]["licence_id"] == record["licence_id"]

    tampered = text[:-10] + ("A" if text[-10] != "A" else "B") + text[-9:]
    out = run("verify", tampered, "--trust", "trust.json", "--root-pub", "keys/root.pub.pem",
              expect=ExitStatus.NOT_OK)
    assert "(invalid)" in out[0] or "(malformed)" in out[0]


def test_a_trust_list_checked_against_another_root_is_refused(run, tmp_path):
    kid, _ = _setup(run, tmp_path)
    text = run("issue", "record.json", "--key", f"keys/{kid}.key.pem", "--base-url", "https://v.example.cn")[-1]
    run("generate", "--root", "--out", "other")
    run("verify", text, "--trust", "trust.json", "--root-pub", "other/root.pub.pem", expect=ExitStatus.ERROR)
    assert "pinned root" in run.err


def test_compromise_through_the_commands(run, tmp_path):
    kid, _ = _setup(run, tmp_path)
    early = run("issue", "record.json", "--key", f"keys/{kid}.key.pem", "--base-url", "https://v.example.cn",
                "--at", "2025-01-01T00:00:00+08:00")[-1]
    late = run("issue", "record.json", "--key", f"keys/{kid}.key.pem", "--base-url", "https://v.example.cn",
               "--at", "2026-06-01T00:00:00+08:00")[-1]
    run("trust", "set-state", kid, "compromised", "--at", "2026-01-01T00:00:00+08:00", "--trust", "trust.json")
    # an edited list is unsigned until it is signed again
    run("verify", early, "--trust", "trust.json", "--root-pub", "keys/root.pub.pem", expect=ExitStatus.ERROR)
    run("trust", "sign", "--trust", "trust.json", "--root-key", "keys/root.key.pem")
    listing = "\n".join(run("trust", "list", "--trust", "trust.json", "--root-pub", "keys/root.pub.pem"))
    assert "serial 2" in listing and "compromised from 2026-01-01" in listing
    run("verify", early, "--trust", "trust.json", "--root-pub", "keys/root.pub.pem")
    out = run("verify", late, "--trust", "trust.json", "--root-pub", "keys/root.pub.pem", expect=ExitStatus.NOT_OK)
    assert "key_revoked" in out[0]


def test_retirement_through_the_commands_keeps_the_past_and_refuses_the_rest(run, tmp_path):
    kid, _ = _setup(run, tmp_path)
    before = run("issue", "record.json", "--key", f"keys/{kid}.key.pem", "--base-url", "https://v.example.cn",
                 "--at", "2025-12-31T23:59:59+08:00")[-1]
    at = run("issue", "record.json", "--key", f"keys/{kid}.key.pem", "--base-url", "https://v.example.cn",
             "--at", "2026-01-01T00:00:00+08:00")[-1]
    run("trust", "set-state", kid, "retired", "--at", "2026-01-01T00:00:00+08:00", "--trust", "trust.json")
    run("trust", "sign", "--trust", "trust.json", "--root-key", "keys/root.key.pem")
    listing = "\n".join(run("trust", "list", "--trust", "trust.json", "--root-pub", "keys/root.pub.pem"))
    assert "retired from 2026-01-01" in listing
    run("verify", before, "--trust", "trust.json", "--root-pub", "keys/root.pub.pem")
    out = run("verify", at, "--trust", "trust.json", "--root-pub", "keys/root.pub.pem", expect=ExitStatus.NOT_OK)
    assert "key_not_valid_at_issue" in out[0]


def test_root_rotation_through_the_commands(run, tmp_path):
    kid, _ = _setup(run, tmp_path)
    text = run("issue", "record.json", "--key", f"keys/{kid}.key.pem", "--base-url", "https://v.example.cn")[-1]
    run("generate", "--root", "--out", "newroot")
    run("trust", "sign", "--trust", "trust.json", "--root-key", "newroot/root.key.pem",
        "--cross-sign", "keys/root.key.pem")
    run("verify", text, "--trust", "trust.json", "--root-pub", "keys/root.pub.pem")     # old pin moves on
    run("verify", text, "--trust", "trust.json", "--root-pub", "newroot/root.pub.pem")  # new pin


def test_passphrase_protected_keys_and_clear_errors(run, tmp_path):
    kid = run("generate", "--issuer", "210100", "--out", "keys", "--passphrase-env", "KEY_PASS")[-1]
    assert b"ENCRYPTED" in (tmp_path / f"keys/{kid}.key.pem").read_bytes()
    (tmp_path / "record.json").write_text(json.dumps(sample_record(random.Random(1), 1)), "utf-8")
    run("issue", "record.json", "--key", f"keys/{kid}.key.pem", "--base-url", "https://v.example.cn",
        expect=ExitStatus.ERROR)
    run("issue", "record.json", "--key", f"keys/{kid}.key.pem", "--base-url", "https://v.example.cn",
        "--passphrase-env", "KEY_PASS")
    run("generate", "--root", "--issuer", "210100", "--out", "keys", expect=ExitStatus.ERROR)
    run("generate", "--root", "--out", "keys")
    run("generate", "--root", "--out", "keys", expect=ExitStatus.ERROR)
    assert "refusing to overwrite" in run.err


def test_a_bad_record_names_every_bad_field(run, tmp_path):
    kid = run("generate", "--issuer", "210100", "--out", "keys")[-1]
    record = sample_record(random.Random(1), 1)
    record["licence_id"] = record["licence_id"][:-1] + ("0" if record["licence_id"][-1] != "0" else "1")
    record["equipment"]["category"] = "crane"
    del record["project"]
    (tmp_path / "bad.json").write_text(json.dumps(record), "utf-8")
    run("issue", "bad.json", "--key", f"keys/{kid}.key.pem", "--base-url", "https://v.example.cn",
        expect=ExitStatus.ERROR)
    for field in ("licence_id", "equipment.category", "project"):
        assert field in run.err


def test_help_goes_to_the_environment(run):
    out = run("--help")
    assert any("generate" in line for line in out) and any("verify" in line for line in out)
