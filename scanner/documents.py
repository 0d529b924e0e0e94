"""`crane-scan document FILE...`: an e-certificate file's seal (OFD) and the QR codes inside it.

OFD: keys.documents checks every seal and signature; the page images it lists are decoded here
(keys/ imports no OpenCV) and each code is resolved like any scanned QR text. Photos and screenshots
(PNG, JPEG): the QR only, since a seal cannot be checked from a picture. PDF: the QR codes of its
embedded images (JPEG, or 8-bit Flate without predictor); its signature is not checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from keys.cli_env import Environment, ExitStatus
from keys.documents import (
    Certificate,
    DocumentError,
    DocumentReport,
    SignatureCheck,
    load_pem_certificates,
)
from qrdecode.files import UnsupportedFile, read_file, sniff

from .report import verdict_line
from .sources import Sighting
from .verdicts import Finding

MAX_FILE = 50 * 1024 * 1024

Resolve = Callable[[str, Sighting], Finding | None]


@dataclass
class FileResult:
    """One file: what kind it is, its seal report (OFD), and its codes, each resolved or not."""

    file: str
    format: str                                     # ofd | pdf | png | jpeg | unknown
    report: DocumentReport | None = None
    findings: list[Finding] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)    # code texts that could not be resolved
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def intact(self) -> bool | None:
        return self.report.intact if self.report is not None else None

    @property
    def codes_ok(self) -> bool:
        return not self.unresolved and all(f.ok for f in self.findings)

    @property
    def ok(self) -> bool:
        """Exit status 0 needs an intact seal and every code ok: a picture or PDF never has the first."""
        return self.error is None and self.intact is True and self.codes_ok

    def to_json(self) -> dict[str, Any]:
        if self.report is not None:
            out = self.report.to_json(self.file)
        else:
            out = {"file": self.file, "format": self.format, "intact": None, "signatures": [], "codes": []}
        out["codes"] = [f.to_json() for f in self.findings]
        if self.unresolved or self.notes or self.error:
            out["notes"] = ([self.error] if self.error else []) + self.notes + [
                f"二维码未核验 code not resolved: {t}" for t in self.unresolved]
        return out


def check_file(path: Path, now: datetime, roots: Sequence[Certificate], resolve: Resolve) -> FileResult:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileResult(str(path), "unknown", error=f"无法读取文件 cannot read the file: {exc.strerror or exc}")
    if len(data) > MAX_FILE:
        return FileResult(str(path), "unknown", error=f"文件超过 {MAX_FILE // 2**20} MB the file is too large")
    try:
        contents = read_file(data, now, roots)
    except (DocumentError, UnsupportedFile) as exc:
        return FileResult(str(path), sniff(data), error=str(exc))
    result = FileResult(str(path), contents.format, contents.report, notes=list(contents.notes))
    for code in contents.codes:
        finding = resolve(str(path), Sighting(code))
        if finding is None:
            result.unresolved.append(code.text)
        else:
            result.findings.append(finding)
    return result


def load_roots(env: Environment, given: str | None) -> list[Certificate]:
    """The trusted seal roots: --seal-roots, else $CRANE_SEAL_ROOTS (a PEM bundle); none means no seal
    is reported as trusted, only as "signed by <subject>"."""
    path = given or env.vars.get("CRANE_SEAL_ROOTS")
    return load_pem_certificates(Path(path).read_bytes()) if path else []


def command(env: Environment, files: Sequence[str], as_json: bool, roots: Sequence[Certificate],
            resolve: Resolve) -> ExitStatus:
    """Exit 0 only when every file is intact and every code in it ok; 2 when no file could be read."""
    results = [check_file(Path(f), env.now(), roots, resolve) for f in files]
    for result in results:
        if as_json:
            env.out(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            for line in human_lines(result):
                env.out(line)
        env.stdout.flush()
    if all(r.error is not None for r in results):
        return ExitStatus.ERROR
    return ExitStatus.OK if all(r.ok for r in results) else ExitStatus.NOT_OK


# --- output ---------------------------------------------------------------------------------------------

def _mark(value: bool | None) -> str:
    return "✔" if value else "✘" if value is False else "–"


def human_lines(result: FileResult) -> list[str]:
    """Chinese first, English beside; ✔/✘ per check (– where a check does not apply)."""
    lines = [f"{result.file} ({result.format})"]
    if result.error:
        lines.append(f"  ✘ {result.error}")
        return lines
    if result.report is not None:
        lines += _report_lines(result.report)
    for note in result.notes:
        lines.append(f"  · {note}")
    for finding in result.findings:
        lines.append("  " + verdict_line(finding))
    for text in result.unresolved:
        lines.append(f"  ✘ 二维码未核验 code not resolved: {text[:60]}")
    return lines


def _report_lines(report: DocumentReport) -> list[str]:
    if report.intact:
        lines = ["  ✔ 文件完整，签章有效 intact: every seal and signature verifies and nothing was changed"]
    else:
        lines = ["  ✘ 文件不完整或签章无效 not intact: a seal or signature fails, or the file was changed"]
    for sig in report.signatures:
        lines += _signature_lines(sig)
    said = {n for sig in report.signatures for n in sig.notes}
    lines += [f"  · {note}" for note in report.notes if note not in said]
    return lines


def _signature_lines(sig: SignatureCheck) -> list[str]:
    kind = "签章 seal" if sig.type.value == "seal" else "签名 signature"
    lines = [f"  {kind} {sig.id} ({sig.format.value})" + (f" · {sig.seal_name}" if sig.seal_name else "")]
    lines.append(f"    {_mark(sig.signature_valid)} 签名 signature valid")
    if sig.seal_valid is not None:
        lines.append(f"    {_mark(sig.seal_valid)} 印章 seal valid (maker's signature, seal file)")
    lines.append(f"    {_mark(not sig.references_bad)} 文件摘要 {sig.references_checked - len(sig.references_bad)}"
                 f"/{sig.references_checked} references match")
    if sig.signer is not None:
        lines.append(f"    {_mark(sig.signer_valid_at_signing)} 证书在签名时有效 signer certificate valid at "
                     f"signing time ({sig.signer.not_before:%Y-%m-%d}..{sig.signer.not_after:%Y-%m-%d})")
        who = f"{sig.signer.subject} (issuer {sig.signer.issuer})"
        lines.append(f"    {_mark(sig.trusted)} " + (f"可信签章人 trusted signer: {who}" if sig.trusted
                                                      else f"签章人不是本地可信根签发 signed by {who}, "
                                                           "not a trusted root here"))
    for note in sig.notes:
        if not note.startswith(("可信 trusted", "不可信 not trusted")):
            lines.append(f"    · {note}")
    return lines
