"""End to end: photos of the demo certificates scanned online against the running service and offline
from a cache synced from it; tampered, foreign and mismatched codes; the service down; stale data; a
clock set back."""

from __future__ import annotations

import random
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keys.algorithms import PrivateKey
from keys.answer import MISMATCH_VERDICT
from keys.cli_env import ExitStatus
from keys.payload import issue
from keys.record import Record
from keys.samples import CITIES, sample_record
from tests.scanner.conftest import Photo, Service, crane_scan, make_photo, offline_data

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _by_file(ran) -> dict[str, dict]:
    return {Path(obj["file"]).name: obj for obj in ran.json()}


def _synced_at(data_dir: Path) -> datetime:
    synced = offline_data(data_dir).data_time
    assert synced is not None
    return synced


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_photos_give_each_certificate_its_real_status(mode, service: Service, synced: Path,
                                                      site_photos: list[Photo]) -> None:
    args = ["--json", *(str(p.path) for p in site_photos)]
    if mode == "online":
        args += ["--online", service.url]
    ran = crane_scan(args, synced)
    found = _by_file(ran)
    assert set(found) == {p.path.name for p in site_photos}, ran.err
    for photo in site_photos:
        answer = found[photo.path.name]
        assert answer["text"] == photo.text
        assert answer["status"]["state"] == photo.expected, (photo.path.name, answer["status"])
        assert answer["signature"]["result"] == "valid"
        assert answer["verdict"]["ok"] is (photo.expected == "valid")
        assert answer["certificate"]["registration_no"] == photo.entry["registration_no"]
        assert answer["certificate"]["version"] == photo.entry["version"]
        assert answer["mode"] == mode
        assert len(answer["points"]) == 4 and all(len(p) == 2 for p in answer["points"])
        assert answer["engine"] in ("zxing", "zbar", "opencv")
        assert set(answer) >= {"verdict", "signature", "status", "certificate", "checked_at", "file", "points",
                               "mode", "data_age_s"}
        if mode == "offline":
            assert answer["status"]["source"] == "offline"
            assert answer["status"]["data_time"]
            assert 0 <= answer["data_age_s"] < 3600
        else:
            assert answer["status"]["source"] == "registry"
            assert answer["data_age_s"] == 0
        if photo.expected == "superseded":
            assert answer["status"]["superseded_by"]["version"] == photo.entry["version"] + 1
    # Some are ended, revoked, ...: not every code is ok.
    assert ran.status == ExitStatus.NOT_OK


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_all_valid_exits_zero(mode, service: Service, synced: Path, site_photos: list[Photo]) -> None:
    valid = [str(p.path) for p in site_photos if p.expected == "valid"]
    ran = crane_scan(valid + (["--online", service.url] if mode == "online" else []), synced)
    assert ran.status == ExitStatus.OK, ran.out + ran.err
    assert "✔" in ran.out and "证书有效" in ran.out and "Certificate valid" in ran.out


def _tampered(text: str, position: int) -> str:
    """One character of the payload changed to another base32 character."""
    head, payload = text.rsplit("/", 1)
    old = payload[position]
    new = BASE32[(BASE32.index(old) + 7) % 32]
    return f"{head}/{payload[:position]}{new}{payload[position + 1:]}"


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_tampered_codes_are_never_ok(mode, service: Service, synced: Path, tmp_path: Path) -> None:
    original = service.certificates("valid")[0]["qr_text"]
    payload_length = len(original.rsplit("/", 1)[1])
    # Past the COSE header (the kid would make it unknown_key): claims, signature, and the very last character.
    positions = [40, payload_length // 2, payload_length - 30, payload_length - 1]
    files = []
    for i, position in enumerate(positions):
        text = _tampered(original, position)
        assert text != original
        files.append(str(make_photo(tmp_path / f"tampered-{i}.jpg", [text], seed=500 + i)))
    ran = crane_scan(["--json", *files] + (["--online", service.url] if mode == "online" else []), synced)
    answers = ran.json()
    assert len(answers) == len(positions), ran.err
    for answer in answers:
        assert answer["verdict"]["ok"] is False
        assert answer["signature"]["result"] in ("invalid", "malformed"), answer["signature"]
        assert answer["mode"] == mode
    assert ran.status == ExitStatus.NOT_OK


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_foreign_code_is_malformed(mode, service: Service, synced: Path, tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "poster.jpg", ["https://example.com/safety/poster?id=42"], seed=7)
    ran = crane_scan(["--json", str(photo)] + (["--online", service.url] if mode == "online" else []), synced)
    [answer] = ran.json()
    assert answer["signature"]["result"] == "malformed"
    assert answer["verdict"] == {"ok": False, "zh": "不是有效的起重机械使用登记证书二维码",
                                 "en": "Not a crane registration certificate code"}
    assert answer["text"] == "https://example.com/safety/poster?id=42"
    assert ran.status == ExitStatus.NOT_OK


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_valid_certificate_of_another_crane_is_a_mismatch(mode, service: Service, synced: Path,
                                                          site_photos: list[Photo]) -> None:
    mine, other = [p for p in site_photos if p.expected == "valid"][:2]
    online = ["--online", service.url] if mode == "online" else []
    ran = crane_scan(["--json", str(mine.path), "--expect-record", other.entry["record_no"], *online], synced)
    [answer] = ran.json()
    assert (answer["verdict"]["zh"], answer["verdict"]["en"]) == MISMATCH_VERDICT
    assert answer["verdict"]["ok"] is False
    assert answer["mismatches"] == ["record_no"]
    assert answer["expected"] == {"record_no": other.entry["record_no"]}
    assert ran.status == ExitStatus.NOT_OK
    table = crane_scan([str(mine.path), "--expect-record", other.entry["record_no"], *online], synced)
    assert "证书与设备不符" in table.out and "✖" in table.out

    same = crane_scan(["--json", str(mine.path), "--expect-record", mine.entry["record_no"], *online], synced)
    [answer] = same.json()
    assert answer["verdict"]["ok"] is True and answer["mismatches"] == []
    assert same.status == ExitStatus.OK


def test_cross_check_of_serial_and_project_is_tolerant(synced: Path, site_photos: list[Photo]) -> None:
    photo = next(p for p in site_photos if p.expected == "valid")
    [answer] = crane_scan(["--json", str(photo.path)], synced).json()
    serial = answer["certificate"]["equipment"]["factory_serial"]
    project = answer["certificate"]["project"]["name"]
    full_width_serial = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in serial)
    spaced_part = " " + " ".join(project[2:6]) + "\u3000"   # a part of the name, spaced, full-width space
    ok = crane_scan(["--json", str(photo.path), "--expect-serial", full_width_serial,
                     "--expect-project", spaced_part], synced)
    assert ok.status == ExitStatus.OK, ok.out
    assert ok.json()[0]["mismatches"] == []
    longer = crane_scan(["--json", str(photo.path), "--expect-project", f"辽宁省 {project}"], synced)
    assert longer.status == ExitStatus.OK  # the board's name contains the certificate's
    wrong = crane_scan(["--json", str(photo.path), "--expect-project", "完全不同的工程", "--expect-serial", serial],
                       synced)
    assert wrong.json()[0]["mismatches"] == ["project"]
    assert wrong.json()[0]["verdict"]["zh"] == "证书与设备不符"
    assert wrong.status == ExitStatus.NOT_OK


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_service_down_falls_back_to_offline_and_says_so(synced: Path, site_photos: list[Photo]) -> None:
    files = [str(p.path) for p in site_photos[:4]]
    ran = crane_scan(["--json", *files, "--online", f"http://127.0.0.1:{_closed_port()}"], synced)
    answers = ran.json()
    assert len(answers) == 4
    for answer, photo in zip(answers, site_photos[:4], strict=True):
        assert answer["mode"] == "offline"
        assert answer["status"]["source"] == "offline"
        assert answer["status"]["state"] == photo.expected
        assert any("已改用离线数据" in n and "offline data" in n for n in answer["notes"]), answer["notes"]
    assert "service unreachable" in ran.err
    table = crane_scan([files[0], "--online", f"http://127.0.0.1:{_closed_port()}"], synced)
    assert "改用离线数据" in table.out


def test_service_that_does_not_answer_times_out_once(synced: Path, site_photos: list[Photo]) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # accepts connections into the backlog, never answers
        port = silent.getsockname()[1]
        started = time.monotonic()
        ran = crane_scan(["--json", *(str(p.path) for p in site_photos[:3]), "--online", f"http://127.0.0.1:{port}",
                          "--timeout", "0.5"], synced)
        elapsed = time.monotonic() - started
    answers = ran.json()
    assert [a["mode"] for a in answers] == ["offline"] * 3
    assert "0.5 s" in answers[0]["notes"][0]
    assert elapsed < 5, "the run waited out a timeout per code"


def test_service_down_without_offline_data_is_an_error(site_photos: list[Photo], tmp_path: Path) -> None:
    ran = crane_scan([str(site_photos[0].path), "--online", f"http://127.0.0.1:{_closed_port()}"], tmp_path / "empty")
    assert ran.status == ExitStatus.ERROR
    assert "cannot be reached" in ran.err and "no offline data" in ran.err


def test_no_offline_data_and_no_service_is_a_usage_error(site_photos: list[Photo], tmp_path: Path) -> None:
    ran = crane_scan([str(site_photos[0].path)], tmp_path / "empty")
    assert ran.status == ExitStatus.ERROR
    assert "crane-scan sync" in ran.err


def test_stale_offline_data_gives_unknown(synced: Path, site_photos: list[Photo]) -> None:
    photo = next(p for p in site_photos if p.expected == "revoked")
    later = _synced_at(synced) + timedelta(days=8)
    ran = crane_scan(["--json", str(photo.path)], synced, now=later)
    [answer] = ran.json()
    assert answer["status"]["state"] == "unknown"
    assert "离线数据已过期" in answer["status"]["reason"] and "older than the allowed" in answer["status"]["reason"]
    assert answer["signature"]["result"] == "valid"
    assert answer["verdict"]["ok"] is False
    assert answer["data_age_s"] >= 8 * 86400
    assert ran.status == ExitStatus.NOT_OK
    allowed = crane_scan(["--json", str(photo.path), "--max-age", "30d"], synced, now=later).json()[0]
    assert allowed["status"]["state"] == "revoked"
    shorter = crane_scan(["--json", str(photo.path), "--max-age", "1h"], synced,
                         now=_synced_at(synced) + timedelta(hours=2)).json()[0]
    assert shorter["status"]["state"] == "unknown"


def test_clock_before_last_sync_is_reported(synced: Path, site_photos: list[Photo]) -> None:
    photo = next(p for p in site_photos if p.expected == "valid")
    earlier = _synced_at(synced) - timedelta(days=1)
    ran = crane_scan(["--json", str(photo.path)], synced, now=earlier)
    [answer] = ran.json()
    assert answer["clock_before_sync"] is True
    assert any("设备时钟早于数据时间" in n for n in answer["notes"])
    assert answer["data_age_s"] < 0
    assert "设备时钟早于数据时间" in ran.err
    assert answer["status"]["state"] == "valid"
    table = crane_scan([str(photo.path)], synced, now=earlier)
    assert "设备时钟早于数据时间" in table.out
    normal = crane_scan(["--json", str(photo.path)], synced).json()[0]
    assert normal["clock_before_sync"] is False


def _unregistered_qr(service: Service) -> str:
    """Signed by a trusted demo issuer key, but never registered."""
    city = CITIES[0]
    record = Record.from_json(sample_record(random.Random(99), 99901, city=city))
    key = PrivateKey.from_pem((service.data_dir / "keys" / f"issuer-{city.code}.key.pem").read_bytes())
    return issue(record, key, service.url, datetime(2025, 6, 1, 9, 30, tzinfo=UTC))


def test_signed_certificate_missing_from_offline_data_is_unknown(service: Service, synced: Path,
                                                                 tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "new.jpg", [_unregistered_qr(service)], seed=11)
    [offline] = crane_scan(["--json", str(photo)], synced).json()
    assert offline["signature"]["result"] == "valid"
    assert offline["status"]["state"] == "unknown"
    assert "离线数据中无此证书（数据截至" in offline["status"]["reason"]
    assert "not in offline data as of" in offline["status"]["reason"]
    assert offline["verdict"]["ok"] is False
    [online] = crane_scan(["--json", str(photo), "--online", service.url], synced).json()
    assert online["status"]["state"] == "not_found"
    assert online["verdict"]["zh"] == "未查询到登记信息，请联系发证机关"


def test_two_codes_in_one_photo(service: Service, synced: Path, tmp_path: Path) -> None:
    valid = service.certificates("valid")[3]["qr_text"]
    revoked = service.certificates("revoked")[0]["qr_text"]
    photo = make_photo(tmp_path / "two.jpg", [valid, revoked], seed=21)
    ran = crane_scan(["--json", str(photo)], synced)
    states = {a["text"]: a["status"]["state"] for a in ran.json()}
    assert states == {valid: "valid", revoked: "revoked"}
    assert ran.status == ExitStatus.NOT_OK
