"""E-certificate files: a public upload page with its verdict page, and POST /api/v1/verify-file.

An upload is read in memory for this request only and never stored. Its heavy part (unzipping, seal
checks, QR decoding: qrdecode.files.read_file) runs in the decode pool, so uploads cannot take the
workers that /api/v1/verify needs; each code found is then resolved like any scanned QR text
(checks.check_text). Seals are trusted when they chain to a root of CRANE_SEAL_ROOTS (the demo seal root
under `serve --demo`). docs/documents.md, "In the service".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NotRequired, cast

from flask import Blueprint, current_app, render_template, request, url_for
from typing_extensions import TypedDict  # pydantic reads typing's own only from Python 3.12
from werkzeug.exceptions import RequestEntityTooLarge

from keys.answer import AnswerJSON, SignatureResult
from keys.documents import Certificate, DocumentError, DocumentReport, SignatureCheck, load_pem_certificates
from keys.payload import Malformed, unprefix
from qrdecode.files import UnsupportedFile, read_file

from .checks import check_text
from .decode_pool import DecodePool, PoolBusy
from .errors import RETRY_AFTER, ApiError, page_error
from .resolve import Resolution
from .services import services

page_bp = Blueprint("documents_page", __name__)
api_bp = Blueprint("documents_api", __name__, url_prefix="/api/v1")
MAX_CODES = 20      # codes resolved per file: a certificate has one
_NAME_MAX = 120
DRAIN_MAX = 32 * 1024 * 1024


class FileRefused(Exception):
    """An upload we will not read: what the client sent, said in Chinese and English."""

    def __init__(self, status: int, code: str, zh: str, en: str, headers: dict[str, str] | None = None):
        super().__init__(f"{zh} / {en}")
        self.status, self.code, self.zh, self.en, self.headers = status, code, zh, en, headers or {}


@dataclass(frozen=True)
class DocumentServices:
    roots: tuple[Certificate, ...]
    pool: DecodePool


@page_bp.record_once
def _set_up(state) -> None:
    config = state.app.extensions["crane"].config
    roots: list[Certificate] = []
    for path in config.seal_roots:
        try:
            roots += load_pem_certificates(Path(path).read_bytes())
        except (OSError, DocumentError) as exc:
            raise RuntimeError(f"CRANE_SEAL_ROOTS: cannot read seal roots from {path}: {exc}") from None
    pool = DecodePool(config.data_dir / "run" / "decode-slots", config.decode_slots)
    state.app.extensions["crane.documents"] = DocumentServices(tuple(roots), pool)


def _documents() -> DocumentServices:
    return current_app.extensions["crane.documents"]


class SignerJSON(TypedDict):
    subject: str
    issuer: str
    not_before: str
    not_after: str


class FileSignatureJSON(TypedDict):
    """One Signature of the file's Signatures.xml (keys.documents.SignatureCheck.to_json)."""

    id: str
    type: Literal["seal", "sign"]
    format: Literal["ses-v4", "ses-v1", "gbt-35275", "raw-sm2", "unknown"]
    signature_valid: bool | None
    seal_valid: bool | None
    references_bad: list[str]
    signer: SignerJSON | None
    trusted: bool
    notes: list[str]


class FileReportJSON(TypedDict):
    """What POST /api/v1/verify-file answers: `crane-scan document --json`'s shape (docs/documents.md)."""

    file: str
    format: Literal["ofd", "pdf", "png", "jpeg"]
    intact: bool | None
    signatures: list[FileSignatureJSON]
    codes: list[AnswerJSON]
    notes: NotRequired[list[str]]


@dataclass(frozen=True)
class FileCheck:
    """One uploaded file: its kind, its seal report (OFD), each code with its resolution, and notes."""

    file: str
    format: str
    report: DocumentReport | None
    codes: tuple[tuple[str, Resolution], ...]
    notes: tuple[str, ...]

    @property
    def store_down(self) -> bool:
        return any(r.store_down for _, r in self.codes)

    def to_json(self) -> FileReportJSON:
        """The shape of `crane-scan document --json` (docs/documents.md), with the service's answers."""
        if self.report is not None:
            out = cast(FileReportJSON, self.report.to_json(self.file))
        else:
            out = {"file": self.file, "format": cast(Any, self.format), "intact": None, "signatures": [], "codes": []}
        out["codes"] = [cast(AnswerJSON, dict(r.body)) for _, r in self.codes]
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def check_upload() -> FileCheck:
    """Read the request's file, check it in the pool and resolve its codes; FileRefused says why not."""
    config = services().config
    request.max_content_length = config.max_file     # this route only: the app's limit stays max_body
    if request.content_length is not None and request.content_length > config.max_file:
        _discard_body(request.content_length)
        raise _too_large(config.max_file)
    if not request.mimetype == "multipart/form-data":
        raise FileRefused(415, "unsupported_media_type", "请以 multipart/form-data 上传字段 file",
                          "send multipart/form-data with a field `file`")
    try:
        upload = request.files.get("file")
        data = upload.read(config.max_file + 1) if upload else b""
    except RequestEntityTooLarge:
        raise _too_large(config.max_file) from None
    if len(data) > config.max_file:
        raise _too_large(config.max_file)
    if not data:
        raise FileRefused(400, "missing_file", "请选择要核验的文件", "choose a file to check")
    name = _file_name(upload.filename or "" if upload else "")
    now = config.now()
    roots = _documents().roots
    try:
        contents = _documents().pool.run(lambda: read_file(data, now, roots))
    except PoolBusy:
        raise FileRefused(503, "busy", "文件核验繁忙，请稍后重试", "too many files are being checked; retry shortly",
                          RETRY_AFTER) from None
    except UnsupportedFile:
        raise FileRefused(415, "unsupported_file", "不是 OFD、PDF 或图片（PNG、JPEG）文件",
                          "not an OFD, PDF or picture (PNG, JPEG) file") from None
    except DocumentError as exc:
        raise FileRefused(422, "unreadable_document", exc.zh, exc.en) from None
    codes = tuple((code.text, check_text(code.text)) for code in contents.codes[:MAX_CODES])
    return FileCheck(name, contents.format, contents.report, codes, contents.notes)


def _discard_body(length: int) -> None:
    """Read and drop a body too large to check, so the client (a browser too) reads the 413 rather than a
    reset connection; past DRAIN_MAX the connection is closed unread."""
    if length > DRAIN_MAX:
        return
    stream = request.environ["wsgi.input"]
    while length > 0:
        chunk = stream.read(min(length, 1 << 16))
        if not chunk:
            return
        length -= len(chunk)


def _too_large(limit: int) -> FileRefused:
    return FileRefused(413, "too_large", f"文件超过 {limit // 2**20} MB", f"the file is larger than {limit // 2**20} MB")


def _file_name(name: str) -> str:
    """The name the client gave, for the report only: its last part, without control or format characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    return name[:_NAME_MAX] or "upload"


# --- the API --------------------------------------------------------------------------------------------

@api_bp.post("/verify-file")
def verify_file():
    try:
        result = check_upload()
    except FileRefused as exc:
        raise ApiError(exc.status, exc.code, f"{exc.zh} / {exc.en}", exc.headers) from None
    headers = {"Cache-Control": "no-store", **(RETRY_AFTER if result.store_down else {})}
    return result.to_json(), 200, headers


# --- the pages ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One line of the verdict page: ✔ (True), ✘ (False) or – (cannot be checked), words, and detail."""

    ok: bool | None
    zh: str
    en: str
    detail: str = ""
    link: str | None = None

    @property
    def mark(self) -> str:
        return "✔" if self.ok else "✘" if self.ok is False else "–"


@dataclass(frozen=True)
class Section:
    title_zh: str
    title_en: str
    checks: tuple[Check, ...]


@page_bp.get("/file")
def upload_form():
    return _form(None, 200)


@page_bp.post("/file")
def upload_result():
    try:
        result = check_upload()
    except FileRefused as exc:
        return _form(exc, exc.status, exc.headers)
    html = render_template("file_result.html", file=result.file, format=result.format,
                           headline=_headline(result), sections=_sections(result))
    return html, 200, {"Cache-Control": "no-store", **(RETRY_AFTER if result.store_down else {})}


def _form(problem: FileRefused | None, status: int, headers: dict[str, str] | None = None):
    html = render_template("file_upload.html", problem=problem, max_mb=services().config.max_file // 2**20)
    return html, status, {"Cache-Control": "no-store", **(headers or {})}


def _headline(result: FileCheck) -> tuple[str, str, str, str]:
    """tone, icon, Chinese and English words: the file's seal and the certificate's status now, together."""
    report, answers = result.report, [r.answer for _, r in result.codes]
    if report is not None and not report.intact:
        return "bad", "cross", "文件未通过核验", "The file failed the check"
    if any(a.signature.result is not SignatureResult.MALFORMED and not a.verdict.ok for a in answers):
        return "bad", "cross", "证书未通过核验", "The certificate failed the check"
    if not any(a.verdict.ok for a in answers):
        return "unknown", "question", "未找到有效的证书二维码", "No valid certificate code found"
    if report is None:
        return "warn", "warn", "证书有效，文件签章未核验", "Certificate valid; the file's seal is not checked"
    if not all(s.trusted for s in report.signatures):
        return "warn", "warn", "证书有效，签章人不受本服务信任", "Certificate valid; the sealer is not trusted here"
    return "ok", "check", "文件完整，证书有效", "File intact, certificate valid"


def _sections(result: FileCheck) -> list[Section]:
    sections: list[Section] = []
    report = result.report
    if report is not None:
        intact = Check(True, "文件完整：每个签章都有效，签章后未被改动",
                       "Intact: every seal verifies and nothing was changed after sealing") if report.intact else \
            Check(False, "文件不完整：签章无效，或签章后被改动", "Not intact: a seal fails, or the file was changed after sealing")
        checks = [intact]
        if report.unsigned_files:
            checks.append(Check(None, "没有签章覆盖的文件", "Files no seal covers", ", ".join(report.unsigned_files)))
        sections.append(Section("文件", "The file", tuple(checks)))
        sections += [_signature_section(sig) for sig in report.signatures]
    else:
        sections.append(Section("文件", "The file", tuple(Check(None, *_split(note)) for note in result.notes)))
    codes = tuple(_code_check(text, resolution) for text, resolution in result.codes)
    sections.append(Section("二维码", "QR code", codes or (Check(False, "文件中没有找到二维码", "No QR code found in the file"),)))
    return sections


def _split(note: str) -> tuple[str, str]:
    """A note written "中文 English" as its two parts, at the first ASCII letter after the Chinese."""
    for index, char in enumerate(note):
        if char.isascii() and char.isalpha():
            return note[:index].strip(), note[index:]
    return note, ""


def _signature_section(sig: SignatureCheck) -> Section:
    kind = ("签章", "Seal") if sig.type.value == "seal" else ("签名", "Signature")
    title_zh = f"{kind[0]} {sig.id}" + (f" · {sig.seal_name}" if sig.seal_name else "")
    checks = [Check(sig.signature_valid, "签名有效" if sig.signature_valid is not False else "签名无效",
                    "Signature valid" if sig.signature_valid is not False else "Signature invalid",
                    "" if sig.signature_valid is not None else "无法核验 cannot be checked")]
    if sig.seal_valid is not None:
        checks.append(Check(sig.seal_valid, "印章有效" if sig.seal_valid else "印章无效",
                            "Seal valid (maker's signature, seal file)" if sig.seal_valid else "Seal invalid"))
    good = sig.references_checked - len(sig.references_bad)
    checks.append(Check(not sig.references_bad and sig.references_checked > 0,
                        f"签章后未被改动（{good}/{sig.references_checked} 个文件摘要一致）" if not sig.references_bad
                        else f"签章后被改动（{len(sig.references_bad)} 个文件不一致）",
                        f"Unchanged since sealing ({good}/{sig.references_checked} references match)"
                        if not sig.references_bad else f"Changed after sealing ({len(sig.references_bad)} files differ)",
                        ", ".join(sig.references_bad)))
    if sig.signer is not None:
        checks.append(Check(sig.signer_valid_at_signing, "签章人证书在签章时有效", "Signer's certificate valid when sealed",
                            f"{sig.signer.not_before:%Y-%m-%d} – {sig.signer.not_after:%Y-%m-%d}"))
        who = sig.signer.subject
        checks.append(Check(True, "签章人可信", "Trusted sealer", who) if sig.trusted else
                      Check(False, "签章人不是本服务信任的根签发", "Signed by someone not under a root trusted here",
                            f"{who}（{sig.signer.issuer}）"))
    return Section(title_zh, kind[1] + f" {sig.id}", tuple(checks))


def _code_check(text: str, resolution: Resolution) -> Check:
    answer = resolution.answer
    body = answer.to_json()
    certificate: dict[str, Any] = dict(body.get("certificate") or {})
    detail = str(certificate.get("registration_no") or "") if answer.signature.result is not SignatureResult.MALFORMED \
        else text[:80]
    return Check(answer.verdict.ok, answer.verdict.zh, answer.verdict.en, detail, _landing(text, answer))


def _landing(text: str, answer: Any) -> str | None:
    """The certificate's own result page here, for a code of ours."""
    if answer.signature.result is SignatureResult.MALFORMED:
        return None
    try:
        return url_for("pages.landing", payload=unprefix(text))
    except Malformed:
        return None


page_bp.register_error_handler(Exception, page_error)
