"""What the inspector gets: the table, CSV, annotated copies, the HTML report, `crane-scan decode`, and
the exit statuses of README.md ("crane-scan")."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from keys.cli_env import Environment, ExitStatus
from scanner import annotate
from scanner.cli import main
from tests.scanner import photos
from tests.scanner.conftest import Photo, Service, crane_scan, make_photo


def test_table_words_icons_and_english(synced: Path, site_photos: list[Photo]) -> None:
    by_state = {p.expected: p for p in site_photos}
    ran = crane_scan([str(by_state[s].path) for s in ("valid", "ended", "revoked", "suspended", "superseded")], synced)
    assert ran.status == ExitStatus.NOT_OK
    for words in ("✔", "证书有效", "Certificate valid", "证书已终止（已办理拆卸告知）", "Certificate ended (dismantled)",
                  "✖", "证书已撤销", "Certificate revoked", "证书已暂扣", "Certificate suspended",
                  "证书已更正", "离线 数据", "offline, data", by_state["valid"].entry["registration_no"]):
        assert words in ran.out, words
    assert "共 5 个二维码" in ran.out and "5 code(s)" in ran.out
    assert "✔ 通过 1，✖ 不通过 4" in ran.out  # ended, revoked, suspended and superseded: ✖, as on the public page
    assert "\x1b[" not in ran.out  # no colour codes when stdout is not a terminal


def test_json_lines_are_one_object_per_code(synced: Path, site_photos: list[Photo]) -> None:
    ran = crane_scan(["--json", *(str(p.path) for p in site_photos)], synced)
    lines = ran.out.splitlines()
    assert len(lines) == len(site_photos)
    for line in lines:
        obj = json.loads(line)
        assert obj["file"] in {str(p.path) for p in site_photos}


def test_csv(synced: Path, site_photos: list[Photo], tmp_path: Path) -> None:
    out = tmp_path / "out" / "scan.csv"
    ran = crane_scan(["--json", "--csv", str(out), *(str(p.path) for p in site_photos)], synced)
    assert ran.status == ExitStatus.NOT_OK
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM, for spreadsheets on Chinese Windows
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(site_photos)
    by_file = {Path(r["file"]).name: r for r in rows}
    for photo in site_photos:
        row = by_file[photo.path.name]
        assert row["state"] == photo.expected
        assert row["registration_no"] == photo.entry["registration_no"]
        assert row["record_no"] == photo.entry["record_no"]
        assert row["ok"] == str(photo.expected == "valid")
        assert row["mode"] == "offline" and row["source"] == "offline"
        assert len(json.loads(row["points"])) == 4


def test_annotated_copies(synced: Path, site_photos: list[Photo], tmp_path: Path) -> None:
    chosen = [p for p in site_photos if p.expected in ("valid", "revoked")][:3]
    out = tmp_path / "annotated"
    ran = crane_scan(["--json", "--annotate", str(out), *(str(p.path) for p in chosen)], synced)
    answers = {Path(a["file"]).name: a for a in ran.json()}
    written = sorted(out.iterdir())
    assert [w.name for w in written] == sorted(f"{p.path.stem}.annotated.jpg" for p in chosen)
    for photo in chosen:
        original = cv2.imread(str(photo.path))
        copy = cv2.imread(str(out / f"{photo.path.stem}.annotated.jpg"))
        assert copy.shape == original.shape
        # The outline runs through the code's corners: pixels there are the verdict's colour.
        points = answers[photo.path.name]["points"]
        r, g, b = (0, 150, 60) if photo.expected == "valid" else (210, 30, 30)
        for x, y in points[1:]:  # the first corner carries a dot of the same colour
            patch = copy[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2].reshape(-1, 3).astype(int)
            assert np.abs(patch - [b, g, r]).sum(axis=1).min() < 120, (photo.path.name, x, y)
        assert np.abs(copy.astype(int) - original.astype(int)).mean() > 0.5


def test_annotation_draws_chinese_with_a_cjk_font_and_falls_back_without(synced: Path, site_photos: list[Photo],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    found = annotate.cjk_font_file()
    if found is None:
        pytest.skip("no CJK font installed (fonts-noto-cjk)")
    face, cjk = annotate.font(24)
    assert cjk
    # Distinct glyphs for distinct characters: not a row of boxes.
    assert len({face.getmask(ch).getbbox() for ch in "证书有效"}) > 1
    [answer] = crane_scan(["--json", str(site_photos[0].path)], synced).json()
    from keys.answer import Answer
    from scanner.verdicts import Checked, Finding

    finding = Finding(answer["file"], answer["text"], answer["points"], answer["engine"],
                      Checked(Answer.from_json(answer), "offline", 0))
    image = annotate.bgr_to_pil(cv2.imread(str(site_photos[0].path)))
    assert annotate.label_lines(finding, True)[0] == answer["verdict"]["zh"]
    annotate.draw(image, [finding])
    # Without any CJK font: English words, still written.
    monkeypatch.setattr(annotate, "cjk_font_file", lambda: None)
    annotate.font.cache_clear()
    try:
        face, cjk = annotate.font(24)
        assert not cjk
        lines = annotate.label_lines(finding, cjk)
        assert all(line.isascii() for line in lines)
        annotate.draw(image, [finding])
    finally:
        annotate.font.cache_clear()


def test_html_report(synced: Path, site_photos: list[Photo], tmp_path: Path, service: Service) -> None:
    weird = make_photo(tmp_path / 'poster <b>&"x".jpg', ['<script>alert("x")</script>'], seed=3)
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), photos.background(np.random.default_rng(1), 400, 300))
    report = tmp_path / "report.html"
    files = [str(p.path) for p in site_photos] + [str(weird), str(blank)]
    ran = crane_scan(["--report", str(report), "--json", *files], synced)
    assert ran.status == ExitStatus.NOT_OK
    text = report.read_text("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text and "<b>" not in text  # escaped, not markup
    assert html.escape('<script>alert("x")</script>') in text
    assert html.escape('poster <b>&"x".jpg') in text
    thumbs = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(thumbs) == len(site_photos) + 1
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(thumbs[0]), np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and max(decoded.shape[:2]) <= 180
    assert "src=\"http" not in text and "<link" not in text  # self-contained
    for photo in site_photos:
        assert html.escape(photo.entry["registration_no"]) in text
    assert "证书有效" in text and "Certificate valid" in text and "数据截至" in text
    assert "blank.png" in text and "未发现二维码" in text
    counts = re.findall(r"(通过|不通过|需注意|无法确认) / [^:]+: (\d+)", text)
    assert sum(int(n) for _, n in counts) == len(site_photos) + 1


def test_decode_command(service: Service, site_photos: list[Photo], tmp_path: Path) -> None:
    entry = service.certificates("valid")[5]
    code = photos.qr_grey(png=entry["qr_png"])
    path, quads = photos.save(tmp_path / "one.jpg", [code], seed=42)
    ran = crane_scan(["decode", "--json", str(path)])
    assert ran.status == ExitStatus.OK
    [obj] = ran.json()
    assert set(obj) == {"file", "text", "points", "engine"}
    assert obj["file"] == str(path) and obj["text"] == entry["qr_text"]
    assert obj["engine"] in ("zxing", "zbar", "opencv")
    # The symbol's corners (inside the 4-module quiet zone of the PNG), mapped by the photo's warp.
    h, w = code.shape
    quiet = 4 * 6
    matrix = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), quads[0])
    corners = cv2.perspectiveTransform(
        np.float32([[quiet, quiet], [w - quiet, quiet], [w - quiet, h - quiet], [quiet, h - quiet]]).reshape(-1, 1, 2),
        matrix).reshape(-1, 2)
    module = np.linalg.norm(corners[1] - corners[0]) / ((w - 2 * quiet) / 6)
    for got, want in zip(obj["points"], corners, strict=True):
        assert np.linalg.norm(np.array(got) - want) < 3 * module, (got, want)
    plain = crane_scan(["decode", str(path)])
    assert plain.out.strip() == f"{path}\tzxing\t{entry['qr_text']}" or entry["qr_text"] in plain.out


def test_decode_exit_statuses(site_photos: list[Photo], tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), photos.background(np.random.default_rng(2), 320, 240))
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    assert crane_scan(["decode", str(blank)]).status == ExitStatus.NOT_OK
    both = crane_scan(["decode", str(blank), str(broken)])
    assert both.status == ExitStatus.NOT_OK and "broken.jpg" in both.err
    only_broken = crane_scan(["decode", str(broken), str(tmp_path / "missing.png")])
    assert only_broken.status == ExitStatus.ERROR
    assert "broken.jpg" in only_broken.err and "missing.png" in only_broken.err
    assert crane_scan(["decode"]).status == ExitStatus.ERROR
    with_code = crane_scan(["decode", str(site_photos[0].path), str(broken), str(blank)])
    assert with_code.status == ExitStatus.OK


def test_scan_exit_statuses(synced: Path, site_photos: list[Photo], tmp_path: Path) -> None:
    valid = next(p for p in site_photos if p.expected == "valid")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), photos.background(np.random.default_rng(3), 320, 240))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")

    assert crane_scan([str(valid.path)], synced).status == ExitStatus.OK
    no_code = crane_scan([str(valid.path), str(blank)], synced)
    assert no_code.status == ExitStatus.NOT_OK and "blank.png" in no_code.out
    skipped = crane_scan([str(valid.path), str(broken)], synced)
    assert (skipped.out + skipped.err).count("broken.png") == 1  # named once and skipped; the readable image decides
    assert skipped.status == ExitStatus.OK
    nothing = crane_scan([str(broken), str(tmp_path / "missing.jpg")], synced)
    assert nothing.status == ExitStatus.ERROR
    assert "broken.png" in nothing.out and "missing.jpg" in nothing.out and "no input could be read" in nothing.err
    assert crane_scan([], synced).status == ExitStatus.ERROR
    assert crane_scan([str(valid.path), "--max-age", "soon"], synced).status == ExitStatus.ERROR
    assert crane_scan([str(valid.path), "--camera", "0"], synced).status == ExitStatus.ERROR
    assert crane_scan([str(valid.path), "--online", "ftp://x"], synced).status == ExitStatus.ERROR
    assert crane_scan(["--no-such-flag", str(valid.path)], synced).status == ExitStatus.ERROR
    assert crane_scan(["scan", str(valid.path)], synced).status == ExitStatus.OK  # the verb may be named
    helped = crane_scan(["--help"])
    assert helped.status == ExitStatus.OK
    assert "sync" in helped.out and "decode" in helped.out and "scan" in helped.out


def test_progress_bar_on_a_terminal(synced: Path, site_photos: list[Photo]) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stdout, stderr = io.StringIO(), Terminal()
    env = Environment(stdout=stdout, stderr=stderr, vars={"CRANE_DATA_DIR": str(synced),
                      "XDG_CONFIG_HOME": str(synced / "config")}, stdout_isatty=False)
    status = main(["--json", *(str(p.path) for p in site_photos[:3])], env)
    assert status in (ExitStatus.OK, ExitStatus.NOT_OK)
    assert len(stdout.getvalue().splitlines()) == 3  # JSON on stdout untouched by the bar
    assert "scanning" in stderr.getvalue()
