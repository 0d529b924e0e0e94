"""Public pages: where a phone camera lands, and a lookup form. Server-rendered, no JavaScript at all.

Who reads them: an inspector on site in glare comparing the crane's plate with the certificate, and a
member of the public who scanned the code with any phone camera. The verdict comes first, as an icon
and words in Chinese with English beside (never colour alone); wording stays calm: "not found" is
not "forged". The pages show only what the answer holds, and the answer arrives with personal data
already masked.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, render_template, request, url_for

from keys.answer import SIGNATURE_LABELS, STATE_LABELS, Answer, SignatureResult, State
from keys.trustlist import TrustedIssuer

from .checks import MAX_NUMBER, check_by_numbers, check_text, find_by_numbers
from .errors import RETRY_AFTER, error_page, page_error
from .services import services
from .store import StoreUnavailable

bp = Blueprint("pages", __name__)


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


def _headline(answer: Answer) -> Headline:
    result, state = answer.signature.result, answer.status.state
    if result is SignatureResult.MALFORMED:
        # Another QR code, or a damaged one: say what we know, not "forged".
        return _make("unknown", "无法识别", "Not recognised")
    if result in _SIGNATURE_HEADLINES:
        return _make("bad", *_SIGNATURE_HEADLINES[result])
    if answer.mismatches:
        return _make("bad", "证书与设备不符", "Does not match this crane")
    if state is State.VALID and result is SignatureResult.NOT_APPLICABLE:
        return _make("warn", "登记有效", "Registered")
    if state is State.SUPERSEDED:
        # "已更正" under a red cross reads like good news: say that this version is no longer the one.
        return _make("bad", "本版本已被替换", "This version is replaced")
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
    State.REVOKED: ("证书已撤销：请不要使用这台设备。如有疑问，请联系发证机关。",
                    "The certificate is revoked: do not use this crane. If in doubt, contact the issuing authority."),
    State.SUSPENDED: ("证书已暂扣：恢复之前请不要使用这台设备。整改和恢复事宜请联系发证机关。",
                      "The certificate is suspended: do not use this crane until it is restored. Contact the "
                      "issuing authority about repairs and restoring it."),
    State.ENDED: ("证书已终止（设备已办理拆卸告知）：请不要依据本证书使用这台设备。重新安装须重新办理使用登记，请联系发证机关。",
                  "The certificate has ended (the crane was dismantled): do not use the crane on this certificate. "
                  "A new installation needs a new registration; contact the issuing authority."),
    State.SUPERSEDED: ("本版本已作废，请以现行版本为准，并核对现场张贴的是现行版本的证书。",
                       "This version is void: the version in force replaces it. Check that the certificate posted on "
                       "site is the version in force."),
}
# Fields the first screen labels one by one when no signature covers them (the rest sit under details).
_LABELLED_FIELDS = frozenset({"equipment.record_no", "equipment.factory_serial", "equipment.model", "project.name",
                              "project.address", "project.position", "user.name"})
# States whose page names the issuing authority and its public contact next to the advice.
_CONTACT_STATES = {State.REVOKED, State.SUSPENDED, State.ENDED, State.SUPERSEDED, State.NOT_FOUND}


def _advice(answer: Answer) -> tuple[str, str] | None:
    """What a person can do next, when the answer is not a plain status."""
    result = answer.signature.result
    if result is SignatureResult.MALFORMED:
        return _ADVICE["malformed"]
    if result in _SIGNATURE_HEADLINES:
        return _ADVICE["signature"]
    return _ADVICE.get(answer.status.state)


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


def visible(value: object) -> object:
    """Invisible format characters (zero-width, bidi controls) shown as <U+202E>, so `2017-\u202e5989` cannot
    pass for 2017-9895. Records refuse them; records stored before that, and signed claims, may carry them."""
    if isinstance(value, str) and any(unicodedata.category(c) == "Cf" for c in value):
        return "".join(f"<U+{ord(c):04X}>" if unicodedata.category(c) == "Cf" else c for c in value)
    return value


@bp.record_once
def _show_format_characters(state) -> None:
    # Every value a template prints passes here before escaping: no page can forget it.
    state.app.jinja_env.finalize = visible


@bp.app_context_processor
def _site() -> dict:
    """The official address, named in the footer so a look-alike page stands out in the address bar."""
    parts = urlsplit(services().config.public_url)
    return {"official_host": parts.netloc or parts.path}


def render_answer(answer: Answer, headers: dict[str, str] | None = None):
    body = answer.to_json()
    result = answer.signature.result
    cert = body.get("certificate") or {}
    unsigned = result is SignatureResult.NOT_APPLICABLE
    registry_data = set() if unsigned else set(cert.get("registry_data") or ())
    html = render_template(
        "result.html", answer=body, h=_headline(answer), advice=_advice(answer), cert=cert,
        # Without a signature everything is the registry's word: one note says so instead of a label per field.
        unsigned=unsigned, registry_data=registry_data, labelled=bool(registry_data & _LABELLED_FIELDS),
        authority=_authority(answer),
        unverified=result in _UNVERIFIED, newer_url=_newer_version_url(answer),
        signature_label=SIGNATURE_LABELS[result],
        source_label=SOURCE_LABELS.get(answer.status.source.value, (answer.status.source.value, "")),
        category_en=CATEGORY_EN,
    )
    return html, 200, {"Cache-Control": "no-store", **(headers or {})}


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/V/<payload>")
@bp.get("/v/<payload>")
def landing(payload: str):
    if len(payload) > services().config.max_qr_query:
        return error_page(413)
    resolution = check_text(payload)
    return render_answer(resolution.answer, headers=RETRY_AFTER if resolution.store_down else None)


@bp.get("/lookup")
def lookup():
    registration_no = request.args.get("registration_no", "").strip()[:MAX_NUMBER]
    record_no = request.args.get("record_no", "").strip()[:MAX_NUMBER]
    form = {"registration_no": registration_no, "record_no": record_no}
    if not registration_no or not record_no:
        return _form_page(form, "missing", 400)
    try:
        answer = check_by_numbers(registration_no, record_no)
    except StoreUnavailable:
        return _form_page(form, "unavailable", 503, RETRY_AFTER)
    if answer is None:
        return _form_page(form, "not_found", 404)
    return render_answer(answer)


def _form_page(form: dict, problem: str, status: int, headers: dict | None = None):
    html = render_template("index.html", problem=problem, **form)
    return html, status, {"Cache-Control": "no-store", **(headers or {})}


def _authority(answer: Answer) -> TrustedIssuer | None:
    """The issuing authority to contact, as the trust list names it: the signer, or for a certificate without
    a code the registry's issuer. Only when the advice is to contact it."""
    if answer.status.state not in _CONTACT_STATES or answer.signature.result in _SIGNATURE_HEADLINES:
        return None
    code = answer.signature.issuer.code if answer.signature.issuer else \
        ((answer.certificate or {}).get("issuer") or {}).get("code")
    return services().trust.current().issuer(code) if code else None


def _newer_version_url(answer: Answer) -> str | None:
    """For a corrected certificate, a link to the version in force, when the lookup form would find it."""
    newer = answer.status.superseded_by
    record_no = ((answer.certificate or {}).get("equipment") or {}).get("record_no")
    if not newer or not record_no:
        return None
    try:
        latest = find_by_numbers(newer["registration_no"], record_no)
    except StoreUnavailable:
        return None
    if latest is None:
        return None
    return url_for("pages.lookup", registration_no=newer["registration_no"], record_no=record_no)


bp.register_error_handler(Exception, page_error)
