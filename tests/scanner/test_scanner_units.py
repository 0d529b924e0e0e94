"""Small pieces: the cross-check's tolerance, icons for every answer, durations, cursors, and the online
checker's fallback when the service is up but its registry store is not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import click
import pytest

from keys.answer import MISMATCH_VERDICT, Answer, Signature, SignatureResult, State, Status
from scanner.cli import parse_duration
from scanner.offline import parse_cursor
from scanner.online import OnlineChecker, ServiceClient, Unreachable
from scanner.verdicts import Expectations, Mark, cross_check, mark_for, mismatches, normalise
from tests.http_stub import Reply, stub_server
from tests.scanner.conftest import Photo, Service, crane_scan, make_photo
from verify_api import pages

CERT = {"registration_no": "辽A-SY-2024-00456", "version": 1,
        "equipment": {"record_no": "辽A-T-00123", "factory_serial": "2019-0456"},
        "project": {"name": "沈阳万科翡翠公园二期项目", "position": "3#楼北侧"}}


def _answer(result: str = "valid", state: str = "valid") -> Answer:
    return Answer(Signature(SignatureResult(result)), Status(State(state)),
                  datetime.fromisoformat("2026-11-24T10:00:00+08:00"), CERT)


@pytest.mark.parametrize(("expect", "found"), [
    (Expectations(record_no="辽A-T-00123"), ()),
    (Expectations(record_no=" 辽Ａ－Ｔ－００１２３ "), ()),             # full-width plate letters and dashes
    (Expectations(record_no="辽a-t-00123"), ()),
    (Expectations(record_no="辽A-T-00124"), ("record_no",)),
    (Expectations(factory_serial="２０１９－０４５６"), ()),
    (Expectations(factory_serial="2019-0457"), ("factory_serial",)),
    (Expectations(project="万科 翡翠公园"), ()),                      # part of the name, with a space
    (Expectations(project="辽宁省沈阳市 沈阳万科翡翠公园二期项目（南区）"), ()),  # the board says more
    (Expectations(project="沈阳万科翡翠公园二期项目\u3000"), ()),
    (Expectations(project="龙湖春江天越"), ("project",)),
    (Expectations(record_no="辽A-T-00123", project="龙湖"), ("project",)),
])
def test_mismatches(expect: Expectations, found: tuple[str, ...]) -> None:
    assert mismatches(CERT, expect) == found


def test_missing_fields_do_not_pass_a_cross_check() -> None:
    assert mismatches({"registration_no": "X"}, Expectations(record_no="A", project="B")) == ("record_no", "project")
    assert mismatches(None, Expectations(record_no="A")) == ()  # nothing to compare: the signature verdict stands


def test_normalise() -> None:
    assert normalise("ＡＢＣ　１２３ - x") == "abc123x"


def test_cross_check_decides_again() -> None:
    checked = cross_check(_answer(), Expectations(record_no="辽A-T-99999"))
    assert (checked.verdict.zh, checked.verdict.en) == MISMATCH_VERDICT
    assert checked.verdict.ok is False and checked.mismatches == ("record_no",)
    assert mark_for(checked) is Mark.BAD
    # A tampered code stays a signature failure whatever the plate says.
    tampered = cross_check(_answer("invalid", "unknown"), Expectations(record_no="辽A-T-00123"))
    assert tampered.verdict.zh.startswith("签名无效")
    # No expectations: the answer as it came.
    plain = _answer()
    assert cross_check(plain, Expectations()) is plain


_TONES = {"ok": Mark.OK, "bad": Mark.BAD, "warn": Mark.WARN, "unknown": Mark.UNKNOWN}


@pytest.mark.parametrize("mismatch", [(), ("record_no",)])
@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("result", list(SignatureResult))
def test_icons_agree_with_the_public_page(result: SignatureResult, state: State, mismatch: tuple[str, ...]) -> None:
    """Every answer has an icon, and it is the one the public page shows for it (issue 11: suspended was ⚠
    here and ✖ there; a plate mismatch was ⚠ for a suspended or ended certificate)."""
    answer = replace(_answer(result.value, state.value), mismatches=mismatch)
    assert mark_for(answer) is _TONES[pages._headline(answer).tone]
    if mismatch and result in (SignatureResult.VALID, SignatureResult.NOT_APPLICABLE):
        assert mark_for(answer) is Mark.BAD and not answer.verdict.ok


def test_suspended_and_mismatched_is_refused() -> None:
    answer = cross_check(_answer("valid", "suspended"), Expectations(record_no="辽C-S-12381"))
    assert mark_for(answer) is Mark.BAD and answer.verdict.ok is False


def test_durations() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("36h") == timedelta(hours=36)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("3600") == timedelta(hours=1)
    assert parse_duration("1.5D") == timedelta(hours=36)
    for bad in ("", "soon", "-1d", "7w"):
        with pytest.raises(click.BadParameter):
            parse_duration(bad)


def test_cursors() -> None:
    assert parse_cursor("0") == (0, 0)
    assert parse_cursor("1795516545600-3") == (1795516545600, 3)
    assert parse_cursor("1795516545600-10") > parse_cursor("1795516545600-9")  # numeric, not text order
    with pytest.raises(ValueError):
        parse_cursor("abc")


# --- the service up, its store down ------------------------------------------------------------------

@pytest.fixture
def store_down() -> Iterator[str]:
    """A service answering every verify with status unknown and Retry-After, as verify_api does."""
    body = json.dumps({
        "verdict": {"ok": False, "zh": "暂时无法确认证书状态，请稍后重试", "en": "Status cannot be confirmed right now"},
        "signature": {"result": "valid"}, "status": {"state": "unknown", "reason": "登记库暂时无法访问"},
        "certificate": None, "checked_at": "2026-11-24T10:00:00+08:00"}).encode()

    def answer(method: str, _path: str, _body: bytes) -> Reply:
        return Reply(body, headers={"Retry-After": "5"}) if method == "POST" else Reply(status=503)

    with stub_server(answer) as url:
        yield url


def test_registry_store_down_falls_back_to_offline(store_down: str, synced: Path, site_photos: list[Photo]) -> None:
    photo = next(p for p in site_photos if p.expected == "suspended")
    ran = crane_scan(["--json", str(photo.path), "--online", store_down], synced)
    [answer] = ran.json()
    assert answer["mode"] == "offline" and answer["status"]["state"] == "suspended"
    assert "registry store unavailable" in answer["notes"][0]


def test_http_errors_are_unreachable(store_down: str) -> None:
    client = ServiceClient(store_down, timeout=2)
    with pytest.raises(Unreachable, match="HTTP 503"):
        client.trust_list()
    checker = OnlineChecker(client, fallback=None)
    with pytest.raises(Exception, match="no offline data"):
        checker.check("HTTPS://X/V/AAAA", now=None)  # type: ignore[arg-type]


@pytest.fixture
def lying_service(service: Service) -> Iterator[str]:
    """Says "valid, valid" to everything: what a tampering network path would answer."""
    valid = service.certificates("valid")[0]

    def answer(_method: str, _path: str, request: bytes) -> Reply:
        asked = json.loads(request)["qr"]
        return Reply(json.dumps({
            "verdict": {"ok": True, "zh": "证书有效", "en": "Certificate valid"},
            "signature": {"result": "valid", "kid": None, "alg": "EdDSA", "issuer": None},
            "status": {"state": "valid", "reason": "", "since": None, "source": "registry", "superseded_by": None},
            "certificate": {"registration_no": valid["registration_no"], "version": 1,
                            "equipment": {"record_no": valid["record_no"]}, "project": {"name": "x"}},
            "checked_at": "2026-11-24T10:00:00+08:00", "asked": asked}).encode())

    with stub_server(answer) as url:
        yield url


def test_online_answer_is_checked_against_the_cached_trust_list(lying_service: str, service: Service, synced: Path,
                                                                tmp_path: Path) -> None:
    original = service.certificates("valid")[0]["qr_text"]
    head, payload = original.rsplit("/", 1)
    flipped = "A" if payload[60] != "A" else "B"
    tampered = f"{head}/{payload[:60]}{flipped}{payload[61:]}"
    photo = make_photo(tmp_path / "t.jpg", [tampered], seed=5)
    [answer] = crane_scan(["--json", str(photo), "--online", lying_service], synced).json()
    assert answer["mode"] == "online"
    assert answer["signature"]["result"] in ("invalid", "malformed")
    assert answer["verdict"]["ok"] is False
    assert any("the local result stands" in n for n in answer["notes"])
    # A genuine code the service calls valid stays valid.
    genuine = make_photo(tmp_path / "g.jpg", [original], seed=6)
    [answer] = crane_scan(["--json", str(genuine), "--online", lying_service], synced).json()
    assert answer["verdict"]["ok"] is True
    # Its made-up project name is not shown: the signed code's is (and said so).
    assert answer["certificate"]["project"]["name"] not in ("x", "")
    assert any("the signed values are shown" in n for n in answer["notes"])
