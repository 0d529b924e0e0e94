"""Public pages: where a phone camera lands, and a lookup form. Server-rendered, no JavaScript at all.

Who reads them: an inspector on site in glare comparing the crane's plate with the certificate, and a
member of the public who scanned the code with any phone camera. The verdict comes first, as an icon
and words in Chinese with English beside (never colour alone); wording stays calm: "not found" is
not "forged". The pages show only what the answer holds, and the answer arrives with personal data
already masked.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from keys.answer import SIGNATURE_LABELS, STATE_LABELS, SignatureResult, State

from .api import resolve_text
from .resolve import answer_for_stored
from .services import services
from .store import StoredVersion, StoreUnavailable

bp = Blueprint("pages", __name__)

MAX_NUMBER = 64  # characters of a registration or record number typed into the form


@dataclass(frozen=True)
class Headline:
    """The one or two words a passer-by reads first, the tone behind them and the icon beside them."""

    tone: str   # ok | warn | bad | unknown: the colour, always doubled by icon and words
    icon: str   # check | warn | cross | question
    zh: str
    en: str


_ICONS = {"ok": "check", "warn": "warn", "bad": "cross", "unknown": "question"}

_SIGNATURE_HEADLINES: dict[str, tuple[str, str]] = {
    SignatureResult.INVALID: ("签名无效", "Signature invalid"),
    SignatureResult.KEY_REVOKED: ("签名无效", "Signature invalid"),
    SignatureResult.KEY_NOT_VALID_AT_ISSUE: ("签名无效", "Signature invalid"),
    SignatureResult.UNKNOWN_KEY: ("签名无法核验", "Signature cannot be verified"),
}

_STATE_TONES = {
    State.VALID: "ok", State.PAPER_LEGACY: "warn", State.ENDED: "bad", State.SUPERSEDED: "bad",
    State.REVOKED: "bad", State.SUSPENDED: "bad", State.NOT_FOUND: "unknown", State.UNKNOWN: "unknown",
}

CATEGORY_EN = {"tower_crane": "Tower crane", "construction_hoist": "Construction hoist",
               "material_hoist": "Material hoist", "gantry_crane": "Gantry crane"}
SOURCE_LABELS = {"registry": ("登记库实时查询", "Registry, live"), "offline": ("离线数据", "Offline data")}

# Results whose certificate fields are not vouched for: signed with a key we cannot trust for it.
_UNVERIFIED = {SignatureResult.KEY_REVOKED, SignatureResult.KEY_NOT_VALID_AT_ISSUE}


def _headline(answer: dict) -> Headline:
    result = answer["signature"]["result"]
    state = State(answer["status"]["state"])
    if result == SignatureResult.MALFORMED:
        # Another QR code, or a damaged one: say what we know, not "forged".
        return _make("unknown", "无法识别", "Not recognised")
    if result in _SIGNATURE_HEADLINES:
        return _make("bad", *_SIGNATURE_HEADLINES[result])
    if answer.get("mismatches"):
        return _make("bad", "证书与设备不符", "Does not match this crane")
    if state is State.VALID and result == SignatureResult.NOT_APPLICABLE:
        return _make("warn", "登记有效", "Registered")
    return _make(_STATE_TONES[state], *STATE_LABELS[state])


def _make(tone: str, zh: str, en: str) -> Headline:
    return Headline(tone, _ICONS[tone], zh, en)


_ADVICE = {
    "malformed": ("如果这是起重机械使用登记证书上的二维码，请擦净、对准后重新扫描；仍无法识别时，请按证书上的编号查询，或联系发证机关。",
                  "If this is the code on a crane registration certificate, wipe it, hold steady and scan again. If it "
                  "still fails, look the certificate up by its numbers or contact the issuing authority."),
    "signature": ("请不要依据这个二维码判断证书是否有效。请按证书上的编号查询，或向发证机关核实。",
                  "Do not rely on this code. Look the certificate up by its numbers, or check with the issuing authority."),
    State.NOT_FOUND: ("新发的证书可能尚未同步到本系统。请稍后再试或按编号查询；如有疑问，请联系发证机关。",
                      "A new certificate may not have reached us yet. Try again later or look it up by number; if in "
                      "doubt, contact the issuing authority."),
    State.UNKNOWN: ("请稍后重新扫描或刷新本页。", "Scan again or reload this page in a little while."),
}


def _advice(answer: dict) -> tuple[str, str] | None:
    """What a person can do next, when the answer is not a plain status."""
    result = answer["signature"]["result"]
    if result == SignatureResult.MALFORMED:
        return _ADVICE["malformed"]
    if result in _SIGNATURE_HEADLINES:
        return _ADVICE["signature"]
    return _ADVICE.get(State(answer["status"]["state"]))


@bp.app_template_filter("when")
def when(value: str | None) -> str:
    """An answer's ISO time as people read it: 2025-03-02 10:00 (answers are in China time already)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return value if len(value) <= 10 else moment.strftime("%Y-%m-%d %H:%M")


@bp.app_context_processor
def _site() -> dict:
    """The official address, named in the footer so a look-alike page stands out in the address bar."""
    parts = urlsplit(services().config.public_url)
    return {"official_host": parts.netloc or parts.path}


def render_answer(answer: dict, status: int = 200, headers: dict | None = None, newer_url: str | None = None):
    result = answer["signature"]["result"]
    html = render_template(
        "result.html", answer=answer, h=_headline(answer), advice=_advice(answer), cert=answer.get("certificate") or {},
        unverified=result in _UNVERIFIED, newer_url=newer_url,
        signature_label=SIGNATURE_LABELS[SignatureResult(result)],
        source_label=SOURCE_LABELS.get(answer["status"]["source"], (answer["status"]["source"], "")),
        category_en=CATEGORY_EN,
    )
    return html, status, {"Cache-Control": "no-store", **(headers or {})}


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/V/<payload>")
@bp.get("/v/<payload>")
def landing(payload: str):
    if len(payload) > services().config.max_qr_query:
        return error_page(413)
    resolution = resolve_text(payload)
    answer = resolution.body
    return render_answer(answer, headers={"Retry-After": "5"} if resolution.store_down else None,
                         newer_url=_newer_version_url(answer))


@bp.get("/lookup")
def lookup():
    registration_no = request.args.get("registration_no", "").strip()[:MAX_NUMBER]
    record_no = request.args.get("record_no", "").strip()[:MAX_NUMBER]
    form = {"registration_no": registration_no, "record_no": record_no}
    if not registration_no or not record_no:
        return _form_page(form, "missing", 400)
    s = services()
    try:
        stored = _find(registration_no, record_no)
    except StoreUnavailable:
        return _form_page(form, "unavailable", 503, {"Retry-After": "5"})
    if stored is None:
        return _form_page(form, "not_found", 404)
    answer = answer_for_stored(stored, s.trust.current(), s.config.now()).to_json()
    return render_answer(answer, newer_url=_newer_version_url(answer))


def _form_page(form: dict, problem: str, status: int, headers: dict | None = None):
    html = render_template("index.html", problem=problem, **form)
    return html, status, {"Cache-Control": "no-store", **(headers or {})}


_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−﹣－", "-"))


def normalise_number(text: str) -> str:
    """What people type on a phone: full-width letters, other dashes, spaces, lower case."""
    text = unicodedata.normalize("NFKC", text).translate(_DASHES)
    return re.sub(r"\s+", "", text).upper()


def _find(registration_no: str, record_no: str) -> StoredVersion | None:
    """The certificate, only when both numbers match (so the form cannot be used to list certificates)."""
    store = services().store
    stored = store.get(registration_no)
    normalised = normalise_number(registration_no)
    if stored is None and normalised != registration_no:
        stored = store.get(normalised)
    if stored is None:
        return None
    on_record = stored.record.get("equipment", {}).get("record_no") or ""
    return stored if normalise_number(on_record) == normalise_number(record_no) else None


def _newer_version_url(answer: dict) -> str | None:
    """For a corrected certificate, a link to the version in force, when the lookup form would find it."""
    newer = answer["status"].get("superseded_by")
    equipment = (answer.get("certificate") or {}).get("equipment") or {}
    if not newer or not equipment.get("record_no"):
        return None
    try:
        latest = services().store.get(newer["registration_no"])
    except StoreUnavailable:
        return None
    if latest is None or latest.record.get("equipment", {}).get("record_no") != equipment["record_no"]:
        return None
    return url_for("pages.lookup", registration_no=newer["registration_no"], record_no=equipment["record_no"])


def error_page(code: int, headers: dict | None = None):
    return render_template("error.html", code=code), code, {"Cache-Control": "no-store", **(headers or {})}


@bp.errorhandler(Exception)
def _page_error(exc: Exception):
    """On the public pages every error is a page for a person, not JSON (the API keeps its JSON)."""
    if isinstance(exc, HTTPException):
        retry_after = getattr(exc, "retry_after", None)
        return error_page(exc.code or 500, {"Retry-After": str(retry_after)} if retry_after else None)
    if isinstance(exc, StoreUnavailable):
        return error_page(503, {"Retry-After": "5"})
    current_app.logger.exception("unhandled error on a public page")
    return error_page(500)
