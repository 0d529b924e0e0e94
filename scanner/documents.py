"""`crane-scan document FILE...`: an e-certificate file's seal (OFD) and the QR codes inside it.

OFD: keys.documents checks every seal and signature; the page images it lists are decoded here
(keys/ imports no OpenCV) and each code is resolved like any scanned QR text. Photos and screenshots
(PNG, JPEG): the QR only, since a seal cannot be checked from a picture. PDF: the QR codes of its
embedded images (JPEG, or 8-bit Flate without predictor); its signature is not checked.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from keys.cli_env import Environment, ExitStatus
from keys.documents import (
    Certificate,
    DocumentError,
    DocumentReport,
    SignatureCheck,
    load_pem_certificates,
    verify_document,
)

from .decode import Code, DecodeError, decode_image
from .report import verdict_line
from .sources import Sighting
from .verdicts import Finding

MAX_FILE = 50 * 1024 * 1024
MAX_PIXELS = 40_000_000
_PICTURES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg"}
PICTURE_NOTE = ("图片无法核验电子签章，只核验了二维码 a seal cannot be checked from a picture: "
                "only its QR code was checked")
PDF_NOTE = "PDF 的签名未核验，只核验了二维码 the PDF's signature is not checked: only its QR codes were"

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
    kind = sniff(data)
    result = FileResult(str(path), kind)
    images: list[bytes] = []
    if kind == "ofd":
        try:
            result.report = verify_document(data, now, roots)
        except DocumentError as exc:
            result.error = str(exc)
            return result
        images = [img.data for img in result.report.images]
    elif kind == "pdf":
        result.notes.append(PDF_NOTE)
        images = list(pdf_images(data))
        if not images:
            result.notes.append("PDF 中没有可读取的图片 no image in the PDF could be read")
    elif kind in ("png", "jpeg"):
        result.notes.append(PICTURE_NOTE)
        images = [data]
    else:
        result.error = "不是 OFD、PDF 或图片文件 not an OFD, PDF or picture file"
        return result
    seen: set[str] = set()
    for image in images[:MAX_IMAGES]:
        for code in _decode(image):
            if code.text in seen:
                continue
            seen.add(code.text)
            finding = resolve(str(path), Sighting(code))
            if finding is None:
                result.unresolved.append(code.text)
            else:
                result.findings.append(finding)
    if not seen:
        result.notes.append("文件中没有找到二维码 no QR code found in the file")
    return result


def sniff(data: bytes) -> str:
    if data.startswith(b"PK\x03\x04"):
        return "ofd"
    if b"%PDF-" in data[:1024]:       # readers accept junk before the header
        return "pdf"
    return next((kind for magic, kind in _PICTURES.items() if data.startswith(magic)), "unknown")


def _decode(data: bytes) -> list[Code]:
    """Codes in one image's bytes; an image too large or unreadable gives none."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                return []
    except (OSError, ValueError, Image.DecompressionBombError):
        return []
    grey = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
    if grey is None or min(grey.shape[:2]) < 11:
        return []
    try:
        return decode_image(grey)
    except DecodeError:
        return []


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


# --- PDF: embedded images, without a PDF library --------------------------------------------------------

_IMAGE_SUBTYPE = re.compile(rb"/Subtype\s*/Image\b")
MAX_IMAGES = 40
MAX_IMAGE_DICTS = 1000      # real PDFs have a few; a file with more is not searched further


def _number(header: bytes, key: bytes) -> int | None:
    match = re.search(rb"/" + key + rb"\s+(\d+)(?!\s+\d+\s+R)", header)
    return int(match.group(1)) if match else None


def pdf_images(data: bytes) -> Iterator[bytes]:
    """JPEG (DCTDecode) images as they are, and 8-bit grey or RGB Flate images as PNG; others skipped.
    Each image dictionary is found by its /Subtype /Image and read up to its stream, so the work is
    linear in the file, whatever it holds."""
    found = 0
    for index, match in enumerate(_IMAGE_SUBTYPE.finditer(data)):
        if index >= MAX_IMAGE_DICTS:
            return
        begin = data.rfind(b" obj", max(0, match.start() - 2000), match.start())
        stream = data.find(b"stream", match.end(), match.end() + 2000)
        if begin < 0 or stream < 0:
            continue
        header = data[begin:stream]
        start = stream + 6 + (2 if data[stream + 6:stream + 8] == b"\r\n" else 1)
        length = _number(header, b"Length")
        end = start + length if length is not None else data.find(b"endstream", start)
        if end < start or end > len(data):
            continue
        body = data[start:end]
        if b"/DCTDecode" in header:
            yield body
        elif b"/FlateDecode" in header and b"/DecodeParms" not in header:
            png = _flate_image(header, body)
            if png is None:
                continue
            yield png
        else:
            continue
        found += 1
        if found >= MAX_IMAGES:
            return


def _flate_image(header: bytes, body: bytes) -> bytes | None:
    width, height = _number(header, b"Width"), _number(header, b"Height")
    bits = _number(header, b"BitsPerComponent")
    channels = 1 if b"/DeviceGray" in header else 3 if b"/DeviceRGB" in header else None
    if not (width and height and bits == 8 and channels) or width * height > MAX_PIXELS:
        return None
    expected = width * height * channels
    try:
        inflater = zlib.decompressobj()
        pixels = inflater.decompress(body, expected)
    except zlib.error:
        return None
    if len(pixels) != expected:
        return None
    array = np.frombuffer(pixels, np.uint8).reshape((height, width, channels) if channels == 3 else (height, width))
    ok, png = cv2.imencode(".png", array[:, :, ::-1] if channels == 3 else array)
    return png.tobytes() if ok else None


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
