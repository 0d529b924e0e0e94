"""Public pages: where a phone camera lands, and a lookup form. Server-rendered, no JavaScript needed."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from keys.answer import STATE_LABELS, SignatureResult, State

from .api import resolve_text
from .resolve import answer_for_stored
from .services import services
from .store import StoreUnavailable

bp = Blueprint("pages", __name__)

# The big word at the top of the page, with an icon: never colour alone.
_HEADLINES = {
    "ok": ("✔", "ok"),
    "warn": ("⚠", "warn"),
    "bad": ("✖", "bad"),
    "unknown": ("?", "unknown"),
}


def _tone(answer: dict) -> str:
    if answer["verdict"]["ok"]:
        return "warn" if answer["status"]["state"] == State.PAPER_LEGACY else "ok"
    if answer["signature"]["result"] in (SignatureResult.MALFORMED, SignatureResult.INVALID,
                                         SignatureResult.KEY_REVOKED, SignatureResult.UNKNOWN_KEY,
                                         SignatureResult.KEY_NOT_VALID_AT_ISSUE):
        return "bad"
    if answer["status"]["state"] in (State.UNKNOWN, State.NOT_FOUND):
        return "unknown"
    return "bad"


def _headline(answer: dict) -> tuple[str, str]:
    """The one or two words a passer-by reads first."""
    result = answer["signature"]["result"]
    if result == SignatureResult.MALFORMED:
        return "无法识别", "Not recognised"
    if result != SignatureResult.VALID and result != SignatureResult.NOT_APPLICABLE:
        return "签名无效", "Signature invalid"
    return STATE_LABELS[State(answer["status"]["state"])]


def render_answer(answer: dict, status: int = 200, headers: dict | None = None):
    tone = _tone(answer)
    zh, en = _headline(answer)
    html = render_template("result.html", answer=answer, tone=tone, icon=_HEADLINES[tone][0], headline_zh=zh,
                           headline_en=en, cert=answer.get("certificate") or {})
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
    return render_answer(resolution.answer.to_json(), headers={"Retry-After": "5"} if resolution.store_down else None)


@bp.get("/lookup")
def lookup():
    registration_no = request.args.get("registration_no", "").strip()[:64]
    record_no = request.args.get("record_no", "").strip()[:64]
    if not registration_no or not record_no:
        return render_template("index.html", registration_no=registration_no, record_no=record_no,
                               missing=True), 400
    s = services()
    try:
        stored = s.store.get(registration_no)
    except StoreUnavailable:
        return render_template("index.html", registration_no=registration_no, record_no=record_no,
                               unavailable=True), 503, {"Retry-After": "5"}
    if stored is None or stored.record.get("equipment", {}).get("record_no") != record_no:
        return render_template("index.html", registration_no=registration_no, record_no=record_no,
                               not_found=True), 404
    return render_answer(answer_for_stored(stored, s.trust.current(), s.config.now()).to_json())


def error_page(code: int):
    return render_template("error.html", code=code), code
