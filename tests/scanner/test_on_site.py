"""What an inspector on site meets (issue 10 point 11, issue 11 points 4, 5, 6, 9): hostile files, markup in
signed text, spreadsheet formulas, a plate of another crane, a laptop terminal of 80 columns, a phone for
the report, the data found from any folder, a laptop without a camera, and times in China time."""

from __future__ import annotations

import csv
import random
import re
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.cells import cell_len

from keys.algorithms import PrivateKey
from keys.cli_env import ExitStatus
from keys.payload import issue
from keys.record import Record
from keys.samples import CITIES, sample_record
from scanner import camera
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.scanner.conftest import Photo, Service, crane_scan, make_photo


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def lying_png(path: Path) -> Path:
    """A 74-byte PNG whose header claims 10^6 x 10^6 pixels."""
    header = struct.pack(">IIBBBBB", 10**6, 10**6, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"\x78\x9c" + b"\0" * 15)
    data += _png_chunk(b"IEND", b"")
    path.write_bytes(data)
    assert len(data) == 74
    return path


def test_a_lying_png_is_skipped_and_named_and_the_batch_goes_on(synced: Path, site_photos: list[Photo],
                                                                 tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    lying_png(folder / "a-lying.png")
    valid = next(p for p in site_photos if p.expected == "valid")
    (folder / "b-valid.jpg").write_bytes(valid.path.read_bytes())
    ran = crane_scan([str(folder)], synced)
    assert ran.status == ExitStatus.OK, ran.err  # the readable image decides, as for any unreadable file
    assert "a-lying.png" in ran.out and "too large or damaged" in ran.out and "OpenCV" not in ran.out + ran.err
    assert valid.entry["registration_no"] in ran.out
    as_json = crane_scan(["--json", str(folder)], synced)
    assert len(as_json.json()) == 1 and "a-lying.png" in as_json.err


def test_an_empty_image_is_reported_once(synced: Path, site_photos: list[Photo], tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    valid = next(p for p in site_photos if p.expected == "valid")
    ran = crane_scan([str(empty), str(valid.path)], synced)
    assert (ran.out + ran.err).count("empty.png") == 1


def _signed_code(service: Service, project: str) -> str:
    """A code signed with the demo's Shenyang issuer key for a certificate that is not registered."""
    doc = sample_record(random.Random(5), 99002, city=CITIES[0])
    doc["project"]["name"] = project
    key = PrivateKey.from_pem((service.data_dir / "keys" / f"issuer-{CITIES[0].code}.key.pem").read_bytes())
    return issue(Record.from_json(doc), key, service.manifest["public_url"], datetime.now(UTC) - timedelta(days=1))


def test_markup_in_signed_text_is_shown_as_text(service: Service, synced: Path, tmp_path: Path) -> None:
    project = "[/]工程[bold]"
    photo = make_photo(tmp_path / "markup.jpg", [_signed_code(service, project)], seed=31)
    report = tmp_path / "report.html"
    for columns in ("80", "140"):
        ran = crane_scan([str(photo), "--report", str(report)], synced, env_vars={"COLUMNS": columns})
        assert ran.status == ExitStatus.NOT_OK, ran.err  # signed, not registered: not found
        assert project in ran.out, ran.out
        assert report.is_file() and project in report.read_text("utf-8")
        report.unlink()


def test_csv_cells_are_never_formulas(synced: Path, tmp_path: Path) -> None:
    texts = ['=HYPERLINK("http://x","y")', "+SUM(1,2)", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
    photos_ = [make_photo(tmp_path / f"f{n}.jpg", [t], seed=40 + n) for n, t in enumerate(texts)]
    out = tmp_path / "scan.csv"
    crane_scan(["--csv", str(out), *map(str, photos_)], synced)
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["text"] for r in rows) == sorted("'" + t for t in texts)
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (row, value)


def test_a_plate_of_another_crane_is_refused_whatever_the_state(synced: Path, site_photos: list[Photo],
                                                                tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    for state in ("valid", "suspended", "ended"):
        photo = next(p for p in site_photos if p.expected == state)
        ran = crane_scan([str(photo.path), "--expect-record", "辽C-S-99999", "--report", str(report)], synced)
        assert ran.status == ExitStatus.NOT_OK
        assert "✖" in ran.out and "⚠" not in ran.out and "✔" not in ran.out
        # What the plate said, beside what the certificate says.
        assert "铭牌 plate 辽C-S-99999" in ran.out and f"证书 certificate {photo.entry['record_no']}" in ran.out
        assert "辽C-S-99999" in report.read_text("utf-8")
        [answer] = crane_scan(["--json", str(photo.path), "--expect-record", "辽C-S-99999"], synced).json()
        assert answer["verdict"]["ok"] is False and answer["expected"] == {"record_no": "辽C-S-99999"}


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_the_table_is_readable_on_a_laptop(columns: int, synced: Path, site_photos: list[Photo]) -> None:
    ran = crane_scan([str(p.path) for p in site_photos], synced, env_vars={"COLUMNS": str(columns)})
    lines = ran.out.splitlines()
    assert max(cell_len(line) for line in lines) <= columns
    for line in lines:  # no row cropped at the terminal's edge
        if line[:1] in "┏┃┡│├└":
            assert line[-1] in "┓┃┩│┤┘", line
    assert "…" not in ran.out
    cells = [re.sub(r"\s*[│┃]\s*", "|", line) for line in lines]
    for photo in site_photos:
        # The numbers whole, each on one line of its cell.
        assert any(f"{photo.entry['registration_no']} v{photo.entry['version']}" in c for c in cells), photo
        assert any(f"备案 {photo.entry['record_no']}" in c for c in cells), photo
    for verdict in ("证书有效", "证书已撤销", "证书已暂扣", "证书已终止（已办理拆卸告知）"):
        assert any(verdict in c for c in cells), verdict


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian's chromium at {CHROMIUM}")
def test_the_html_report_fits_a_phone(synced: Path, site_photos: list[Photo], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    report = tmp_path / "report.html"
    crane_scan(["--report", str(report), "--expect-record", "辽C-S-12381", *(str(p.path) for p in site_photos)],
               synced)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(report.as_uri())
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            assert page.get_by_text("证书已撤销").first.is_visible()
        finally:
            browser.close()


def test_sync_in_one_folder_and_scan_from_another(service: Service, site_photos: list[Photo], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    user = {"HOME": str(home)}  # no data directory named anywhere: the XDG defaults under HOME
    monkeypatch.chdir(tmp_path)
    ran = crane_scan(["sync", "--server", service.url, "--root-pub", service.root_pub], env_vars=user)
    assert ran.status == ExitStatus.OK, ran.err
    assert (home / ".local/share/crane-scan/scanner/offline.sqlite").is_file()
    assert list((home / ".config/crane-scan/pins").glob("*.json"))
    assert not (tmp_path / "var").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    valid = next(p for p in site_photos if p.expected == "valid")
    [answer] = crane_scan(["--json", str(valid.path)], env_vars=user).json()  # no --root-pub: the pin is found
    assert answer["mode"] == "offline" and answer["verdict"]["ok"] is True
    # XDG_DATA_HOME, when set, is where the data is looked for.
    moved = crane_scan(["--json", str(valid.path)], env_vars={**user, "XDG_DATA_HOME": str(tmp_path / "x")})
    assert moved.status == ExitStatus.ERROR and str(tmp_path / "x") in moved.err


def test_times_for_people_are_china_time(service: Service, tmp_path: Path, synced: Path,
                                         site_photos: list[Photo]) -> None:
    ran = crane_scan(["sync", "--server", service.url, "--root-pub", service.root_pub], tmp_path)
    assert re.search(r"数据截至 / data as of \d{4}-\d\d-\d\d \d\d:\d\d \(UTC\+8", ran.out), ran.out
    assert "+00:00" not in ran.out
    info = crane_scan(["info"], tmp_path)
    assert "(UTC+8)" in info.out and "+00:00" not in info.out
    valid = next(p for p in site_photos if p.expected == "valid")
    [answer] = crane_scan(["--json", str(valid.path)], synced).json()
    assert answer["status"]["data_time"].endswith("+08:00") and answer["checked_at"].endswith("+08:00")


def test_no_camera_says_so(synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capfd: pytest.CaptureFixture[str]) -> None:
    real = camera.open_camera
    monkeypatch.setattr(camera, "open_camera", lambda index: real(index, devices=tmp_path))  # no /dev/video0 here
    ran = crane_scan(["--camera", "0"], synced, env_vars={})
    assert ran.status == ExitStatus.ERROR
    assert "未找到摄像头 0 / no camera 0" in ran.err
    if not Path("/dev/video7").exists():
        # OpenCV itself, asked for a camera that is not there, writes nothing to the terminal.
        capfd.readouterr()
        assert real(7) is None or not real(7).isOpened()
        assert capfd.readouterr().err == ""
