"""What the inspector reads: a table, a line per verdict, JSON lines, CSV and a self-contained HTML report.

Chinese first, English beside it; every verdict carries an icon and words, colour only repeats them.
"""

from __future__ import annotations

import base64
import csv
import html
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import cv2
import numpy as np
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from keys.answer import CHINA_TIME, SIGNATURE_LABELS, Answer, Source

from .verdicts import Finding, Mark, state_label

MARK_WORDS: dict[Mark, tuple[str, str]] = {
    Mark.OK: ("通过", "OK"),
    Mark.BAD: ("不通过", "Not OK"),
    Mark.WARN: ("需注意", "Attention"),
    Mark.UNKNOWN: ("无法确认", "Cannot confirm"),
}


@dataclass
class Run:
    """Everything one scan saw, for the summary, the table and the report."""

    findings: list[Finding] = field(default_factory=list)
    without_codes: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    thumbnails: dict[int, str] = field(default_factory=dict)  # id(finding) -> data URL
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> Counter[Mark]:
        return Counter(f.mark for f in self.findings)


# --- small formatting helpers ----------------------------------------------------------------------

def _get(d: Any, *path: str) -> Any:
    for key in path:
        d = d.get(key) if isinstance(d, dict) else None
    return d


def _day(value: datetime | None) -> str:
    return value.astimezone(CHINA_TIME).strftime("%Y-%m-%d") if value else ""


def _minute(value: datetime | None) -> str:
    return value.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M") if value else ""


def age_text(seconds: int | None) -> str:
    if seconds is None:
        return ""
    if seconds < 0:
        return f"时钟早于同步 {(-seconds) // 60} 分 / clock {(-seconds) // 60} min before sync"
    if seconds < 3600:
        return f"{seconds // 60} 分钟 / {seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} 小时 / {seconds // 3600} h"
    return f"{seconds // 86400} 天 / {seconds // 86400} d"


def where(f: Finding) -> str:
    name = Path(f.file).name
    if f.frame is not None:
        return f"{name} @{f.time_s:.1f}s (frame {f.frame})" if f.time_s is not None else f"{name} frame {f.frame}"
    return name


def certificate_summary(answer: Answer) -> dict[str, str]:
    c = answer.certificate or {}
    signer = answer.signature.issuer
    version = c.get("version")
    return {
        "registration_no": str(c.get("registration_no") or ""),
        "version": "" if version is None else str(version),
        "category": str(_get(c, "equipment", "category_zh") or _get(c, "equipment", "category") or ""),
        "model": str(_get(c, "equipment", "model") or ""),
        "record_no": str(_get(c, "equipment", "record_no") or ""),
        "factory_serial": str(_get(c, "equipment", "factory_serial") or ""),
        "project": str(_get(c, "project", "name") or ""),
        "position": str(_get(c, "project", "position") or ""),
        "user": str(_get(c, "user", "name") or ""),
        "issuer": str(_get(c, "issuer", "name") or (signer.name if signer else "")),
        "issued_on": str(c.get("issued_on") or ""),
        "licence_id": str(c.get("licence_id") or ""),
    }


def status_text(answer: Answer) -> tuple[str, str]:
    """(Chinese, English) one-liners: the state and since when."""
    zh, en = state_label(answer)
    since = _day(answer.status.since)
    return (f"{zh}{' 自 ' + since if since else ''}", f"{en}{' since ' + since if since else ''}")


def source_text(f: Finding) -> tuple[str, str]:
    """(Chinese, English): where the status came from, and for offline data how old it is."""
    status = f.answer.status
    if status.source is Source.OFFLINE or f.checked.mode == "offline":
        data = _minute(status.data_time)
        age = age_text(f.checked.data_age_s)
        return (f"离线 · 数据截至 {data}", f"offline · data as of {data} ({age.split(' / ')[-1]})")
    return ("联网 · 登记库", "online · registry")


def signature_text(answer: Answer) -> tuple[str, str]:
    return SIGNATURE_LABELS[answer.signature.result]


def verdict_line(f: Finding) -> str:
    """One plain line per verdict (camera without a window, and logs)."""
    verdict = f.answer.verdict
    c = certificate_summary(f.answer)
    parts = [f"{f.mark.icon} {verdict.zh} / {verdict.en}"]
    if c["registration_no"]:
        parts.append(f"{c['registration_no']} v{c['version']}")
    if c["record_no"]:
        parts.append(f"备案 {c['record_no']}")
    if c["project"]:
        parts.append(c["project"])
    parts.append(f"[{f.checked.mode}] {where(f)}")
    line = " · ".join(parts)
    for mismatch in mismatch_lines(f):
        line += f"\n  {mismatch}"
    for note in f.checked.notes:
        line += f"\n  ⚠ {note}"
    return line


# --- table -----------------------------------------------------------------------------------------

WIDE = 110  # from this width the site gets a column of its own; below it shares the certificate's


def console_for(stream: TextIO, isatty: bool, columns: str | None = None) -> Console:
    """`columns` is $COLUMNS from the command's environment; without it a terminal's own width, else 200."""
    width = int(columns) if columns and columns.isdigit() and int(columns) >= 40 else None
    return Console(file=stream, force_terminal=isatty, no_color=not isatty, highlight=False, soft_wrap=False,
                   markup=False, width=width or (None if isatty else 200), emoji=False)


def mismatches_stated(f: Finding) -> list[tuple[str, str, str]]:
    """Each mismatch: the field's name, what the plate or board said, what the certificate says."""
    c = certificate_summary(f.answer)
    expected = f.checked.expected.to_json()
    stated = {"record_no": c["record_no"], "factory_serial": c["factory_serial"], "project": c["project"]}
    return [(_MISMATCH_NAMES.get(name, name), expected.get(name, "?"), stated.get(name) or "—")
            for name in f.answer.mismatches]


def mismatch_lines(f: Finding) -> list[str]:
    return [f"≠ {name}: 铭牌 plate {plate} · 证书 certificate {cert}" for name, plate, cert in mismatches_stated(f)]


def print_table(console: Console, run: Run, with_table: bool = True) -> None:
    """Numbers and verdicts never cut: those columns are as wide as their longest line and fold rather than end in
    "…"; below WIDE columns the site and the source move into other columns' cells."""
    if run.findings and with_table:
        wide = console.width >= WIDE
        table = Table(show_lines=True, title="起重机械使用登记证书核验 / Crane certificate check", expand=False)
        numbers = max((cell_len(n) for f in run.findings for n in _cells(f)), default=0)
        verdicts = max(max(cell_len(f.answer.verdict.zh), cell_len(f.answer.verdict.en)) for f in run.findings)
        if any(f.answer.mismatches or f.checked.notes for f in run.findings):
            verdicts = 30  # room for what the plate said beside the certificate, and notes
        # Fixed widths for these three (rich shares out only what is left): a minimum alone is not kept when the
        # table is squeezed, and the table is then cropped at the terminal's edge.
        table.add_column("", no_wrap=True, width=1)
        table.add_column("结论 Verdict", overflow="fold", width=min(max(verdicts, 12), 30))
        table.add_column("证书 Certificate", overflow="fold", width=max(numbers, 16))
        if wide:
            table.add_column("工程 Site", overflow="fold")
        table.add_column("状态 Status", overflow="fold", min_width=14)
        if wide:
            table.add_column("来源 Source", overflow="fold")
        for f in run.findings:
            verdict = f.answer.verdict
            c = certificate_summary(f.answer)
            style = f"bold {f.mark.colour}"
            verdict_cell = Text(verdict.zh, style=style)
            verdict_cell.append("\n" + verdict.en, style=f.mark.colour)
            for name, plate, cert in mismatches_stated(f):  # a line each, so neither is broken
                verdict_cell.append(f"\n≠ {name}:\n铭牌 plate {plate}\n证书 certificate {cert}", style=f.mark.colour)
            for note in f.checked.notes:
                verdict_cell.append(f"\n⚠ {note}")
            cert_lines = [*_cells(f)]
            if c["registration_no"]:
                cert_lines.append(f"{c['category']} {c['model']}".strip())
            else:
                cert_lines.extend(signature_text(f.answer))
            site = "\n".join(x for x in (c["project"], c["position"]) if x)
            zh, en = status_text(f.answer)
            source = "\n".join((where(f), *compact_source(f)))
            status = f"{zh}\n{en}"
            if not wide:
                cert_lines.extend(x for x in (c["project"], c["position"]) if x)
                status = f"{status}\n{source}"
            row = [Text(f.mark.icon, style=style), verdict_cell, Text("\n".join(x for x in cert_lines if x))]
            if wide:
                row.append(Text(site))
            row.append(Text(status))
            if wide:
                row.append(Text(source))
            table.add_row(*row)
        console.print(table)
    for line in summary_lines(run):
        console.print(Text(line))


def _cells(f: Finding) -> list[str]:
    """The certificate's numbers, one per line: never wrapped or cut."""
    c = certificate_summary(f.answer)
    return [x for x in (f"{c['registration_no']} v{c['version']}" if c["registration_no"] else "",
                        f"备案 {c['record_no']}" if c["record_no"] else "",
                        f"出厂 {c['factory_serial']}" if c["factory_serial"] else "") if x]


def compact_source(f: Finding) -> tuple[str, str]:
    """The source in two short lines: online, or offline with the data's age."""
    if f.answer.status.source is Source.OFFLINE or f.checked.mode == "offline":
        age = age_text(f.checked.data_age_s)
        zh, _, en = age.partition(" / ")
        return (f"离线 数据 {zh}前" if zh and not zh.startswith("时钟") else f"离线 {zh}", f"offline, data {en} old"
                if en and not zh.startswith("时钟") else f"offline {en}")
    return ("联网 登记库", "online registry")


_MISMATCH_NAMES = {"record_no": "产权备案编号 record no.", "factory_serial": "出厂编号 factory serial",
                   "project": "工程名称 project"}


def summary_lines(run: Run) -> list[str]:
    counts = run.counts()
    total = len(run.findings)
    parts_zh = "，".join(f"{m.icon} {MARK_WORDS[m][0]} {counts[m]}" for m in Mark if counts[m])
    parts_en = ", ".join(f"{MARK_WORDS[m][1]} {counts[m]}" for m in Mark if counts[m])
    lines = [f"共 {total} 个二维码{('：' + parts_zh) if parts_zh else ''} / {total} code(s)"
             + (f": {parts_en}" if parts_en else "")]
    for name in run.without_codes:
        lines.append(f"? 未发现二维码 / no QR code found: {name}")
    for name, why in run.unreadable:
        lines.append(f"✖ 无法读取 / unreadable, skipped: {name}: {why}")
    for warning in dict.fromkeys(run.warnings):
        lines.append(f"⚠ {warning}")
    return lines


# --- JSON lines and CSV ----------------------------------------------------------------------------

def json_line(f: Finding) -> str:
    return json.dumps(f.to_json(), ensure_ascii=False)


CSV_FIELDS = ("file", "frame", "time_s", "ok", "icon", "verdict_zh", "verdict_en", "signature", "state",
              "status_reason", "since", "source", "data_time", "mode", "data_age_s", "registration_no", "version",
              "category", "model", "record_no", "factory_serial", "project", "position", "user", "issuer",
              "mismatches", "expected_record_no", "expected_factory_serial", "expected_project", "notes", "checked_at",
              "engine", "text", "points")
# A cell a spreadsheet would read as a formula (or as the start of one after a tab or CR); see OWASP "CSV Injection".
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A text cell that a spreadsheet shows as the text it is: a leading apostrophe before a formula start."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def csv_row(f: Finding) -> dict[str, Any]:
    a = f.answer
    c = certificate_summary(a)
    verdict, status = a.verdict, a.status.to_json()  # times as the JSON states them
    return {
        "file": f.file, "frame": f.frame, "time_s": f.time_s, "ok": verdict.ok,
        "icon": f.mark.icon, "verdict_zh": verdict.zh, "verdict_en": verdict.en,
        "signature": a.signature.result.value, "state": status["state"],
        "status_reason": status["reason"], "since": status["since"], "source": status["source"],
        "data_time": status.get("data_time"), "mode": f.checked.mode, "data_age_s": f.checked.data_age_s,
        "registration_no": c["registration_no"], "version": c["version"], "category": c["category"],
        "model": c["model"], "record_no": c["record_no"], "factory_serial": c["factory_serial"],
        "project": c["project"], "position": c["position"], "user": c["user"], "issuer": c["issuer"],
        "mismatches": ";".join(a.mismatches), "expected_record_no": f.checked.expected.record_no,
        "expected_factory_serial": f.checked.expected.factory_serial, "expected_project": f.checked.expected.project,
        "notes": " | ".join(f.checked.notes),
        "checked_at": a.to_json()["checked_at"], "engine": f.engine, "text": f.text,
        "points": json.dumps(f.points),
    }


def write_csv(path: Path, findings: Sequence[Finding]) -> None:
    """UTF-8 with a byte order mark, so spreadsheet programs on Chinese Windows read the characters right."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for f in findings:
            writer.writerow({k: cell(v) for k, v in csv_row(f).items()})


# --- HTML report -----------------------------------------------------------------------------------

def thumbnail(bgr: np.ndarray, points: Sequence[Sequence[float]], mark: Mark, max_side: int = 180) -> str:
    """A data URL: the code and some of its surroundings, outlined in the verdict's colour."""
    pts = np.array(points, dtype=np.float32)
    h, w = bgr.shape[:2]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    margin = 0.3 * max(x1 - x0, y1 - y0, 8)
    left, top = int(max(0, x0 - margin)), int(max(0, y0 - margin))
    right, bottom = int(min(w, x1 + margin)), int(min(h, y1 + margin))
    if right - left < 2 or bottom - top < 2:
        left, top, right, bottom = 0, 0, w, h
    crop = np.ascontiguousarray(bgr[top:bottom, left:right])
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    scale = min(1.0, max_side / max(crop.shape[:2]))
    if scale < 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    outline = ((pts - [left, top]) * scale).astype(np.int32).reshape(-1, 1, 2)
    r, g, b = mark.rgb
    cv2.polylines(crop, [outline], True, (b, g, r), 2, cv2.LINE_AA)
    ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode("ascii") if ok else ""


_CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","PingFang SC","Microsoft YaHei",sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .2em} .meta{color:#555;margin-bottom:1em}
.summary span{display:inline-block;margin:0 1em .5em 0;padding:.3em .7em;border-radius:4px;color:#fff;font-weight:bold}
table{border-collapse:collapse;width:100%} th,td{border:1px solid #ccc;padding:.4em;vertical-align:top;text-align:left}
th{background:#f3f3f3} td.thumb img{max-width:180px;display:block}
.v{font-weight:bold} .en{color:#555;font-size:.9em} .note{color:#8a5a00;font-size:.9em}
.ok{background:#e9f7ee} .bad{background:#fdecec} .warn{background:#fff6e0} .unknown{background:#eaf0fb}
.icon{font-size:1.6em} dl{margin:0} dt{float:left;clear:left;color:#666;margin-right:.4em} dd{margin:0}
td{overflow-wrap:anywhere} td.verdict{min-width:11em} td.status{min-width:12em} td.source{min-width:12em}
td.file{max-width:16em}
@media (max-width:640px){
body{margin:.6em;overflow-wrap:anywhere} table,thead,tbody,tr,td{display:block} thead{display:none}
tr{margin-bottom:.8em;border:1px solid #ccc} td{border:0;border-top:1px solid #e3e3e3;min-width:0!important;max-width:none}
td.thumb img{max-width:100%}
}
"""
# Below 640 px (a phone) each code's row becomes a card of stacked cells: the report fits 390 px with no sideways scroll.

_ROW_CLASS = {Mark.OK: "ok", Mark.BAD: "bad", Mark.WARN: "warn", Mark.UNKNOWN: "unknown"}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def render_html(run: Run, now: datetime, title: str = "起重机械使用登记证书现场核验报告") -> str:
    counts = run.counts()
    summary = "".join(
        f'<span style="background:rgb{m.rgb}">{_e(m.icon)} {_e(MARK_WORDS[m][0])} / {_e(MARK_WORDS[m][1])}: {counts[m]}</span>'
        for m in Mark)
    rows = []
    for i, f in enumerate(run.findings, 1):
        a = f.answer
        verdict = a.verdict
        c = certificate_summary(a)
        zh, en = status_text(a)
        src_zh, src_en = source_text(f)
        szh, sen = signature_text(a)
        fields = [("使用登记编号", f"{c['registration_no']} v{c['version']}" if c["registration_no"] else ""),
                  ("设备", f"{c['category']} {c['model']}".strip()), ("产权备案编号", c["record_no"]),
                  ("出厂编号", c["factory_serial"]), ("工程", c["project"]), ("安装位置", c["position"]),
                  ("使用单位", c["user"]), ("发证机关", c["issuer"]), ("发证日期", c["issued_on"]),
                  ("电子证照标识", c["licence_id"])]
        if not c["registration_no"]:  # not one of ours: what the code says helps (a look-alike site's URL)
            fields.append(("二维码内容 QR text", f.text if len(f.text) <= 200 else f.text[:200] + "…"))
        cert = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in fields if v) or "<dd>—</dd>"
        mism = "".join(f'<div class="note">{_e(line)}</div>' for line in mismatch_lines(f))
        notes = "".join(f'<div class="note">⚠ {_e(n)}</div>' for n in f.checked.notes)
        reason = a.status.reason
        img = run.thumbnails.get(id(f), "")
        thumb = f'<img alt="{_e("code " + str(i))}" src="{_e(img)}">' if img else ""
        rows.append(
            f'<tr class="{_ROW_CLASS[f.mark]}"><td>{i}</td><td class="thumb">{thumb}</td>'
            f'<td class="verdict"><span class="icon">{_e(f.mark.icon)}</span> <span class="v">{_e(verdict.zh)}</span>'
            f'<div class="en">{_e(verdict.en)}</div>{mism}{notes}</td>'
            f'<td><dl>{cert}</dl></td>'
            f'<td class="status">{_e(zh)}<div class="en">{_e(en)}</div>'
            f'{"<div>" + _e(reason) + "</div>" if reason else ""}'
            f'<div class="en">{_e(szh)} / {_e(sen)}</div></td>'
            f'<td class="source">{_e(src_zh)}<div class="en">{_e(src_en)}</div></td>'
            f'<td class="file">{_e(where(f))}<div class="en">{_e(f.file)}</div></td></tr>')
    extra = "".join(f"<li>{_e(line)}</li>" for line in summary_lines(run)[1:])
    generated = now.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head><body>
<h1>{_e(title)}</h1><div class="en">Crane use-registration certificate inspection report</div>
<p class="meta">生成时间 Generated {_e(generated)} (UTC+8) · 二维码 {len(run.findings)} codes ·
 文件 {len({f.file for f in run.findings}) + len(run.without_codes)} sources</p>
<div class="summary">{summary}</div>
{"<ul>" + extra + "</ul>" if extra else ""}
<table><thead><tr><th>#</th><th>二维码 Code</th><th>结论 Verdict</th><th>证书 Certificate</th><th>状态 Status</th>
<th>核验 Mode</th><th>文件 File</th></tr></thead>
<tbody>
{"".join(rows) or '<tr><td colspan="7">未发现二维码 / no codes found</td></tr>'}
</tbody></table>
</body></html>
"""


def write_html(path: Path, run: Run, now: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(run, now), encoding="utf-8")
