"""The issuing authorities' API: register, change status, dismantling notice, correction.

Every call carries a bearer token scoped to one issuer code; an issuer touches only its own certificates.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import Blueprint, g, jsonify, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter

from keys.answer import State
from keys.errors import RecordError
from keys.payload import SignedRecordError, check_signed_record
from keys.record import Record, format_characters

from . import issuer_token, paging
from .errors import ApiError, json_object
from .privacy import mask_record
from .services import client_address, services
from .store import Change, Outcome

bp = Blueprint("issuer", __name__, url_prefix="/api/v1/issuer")


class CertificateNumber(PathConverter):
    """A registration number in a path: it may hold "/", but a path ending in one of the change actions
    belongs to that action, so GET /certificates/N does not also claim /certificates/N/status."""

    regex = r"(?!.*/(?:status|dismantling|corrections)$)[^/].*?"


@bp.record_once
def _converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("regno", CertificateNumber)

_ISSUER_STATES = {State.VALID, State.SUSPENDED, State.REVOKED, State.ENDED}


def bad_token_key() -> str:
    """The rate-limit key for failed token checks: client address and the token id presented."""
    token = issuer_token.parse(issuer_token.presented(request.headers.get("Authorization", "")) or "")
    return f"{client_address()}|{token.token_id if token else '-'}"


def require_token(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        token = issuer_token.presented(request.headers.get("Authorization", ""))
        s = services()
        found = s.store.check_token(token, s.config.now()) if token is not None else None
        if found is None:
            raise ApiError(401, "unauthorized", "缺少或无效的访问令牌 / missing or invalid bearer token",
                           {"WWW-Authenticate": 'Bearer realm="crane-issuer"'})
        g.token_id, g.issuer = found
        g.actor = issuer_token.actor(g.issuer, g.token_id)
        return view(*args, **kwargs)
    return wrapper


def _signed_record(body: dict[str, Any]) -> tuple[Record, str | None]:
    """The record, checked field by field, and its QR payload checked against the trust list and the token."""
    try:
        record = Record.from_json(body.get("record"))
    except RecordError as exc:
        raise ApiError(400, "invalid_record", str(exc)) from None
    if record.issuer.code != g.issuer:
        _deny(record.registration_no, "register", f"token of {g.issuer} used for {record.issuer.code}",
              record.issuer.code)
    s = services()
    try:
        return record, check_signed_record(record, body.get("qr_text"), s.trust.current(), s.config.now())
    except SignedRecordError as exc:  # worded Chinese first, naming the field or the rule
        status = 400 if exc.code in ("invalid_record", "missing_qr_text") else 422
        raise ApiError(status, exc.code, str(exc)) from None


def _deny(registration_no: str, action: str, why: str, owner: str) -> None:
    s = services()
    s.store.record_denied(g.actor, action, registration_no, s.config.now(), why, owner,
                          timedelta(days=s.config.retention_days))
    raise ApiError(403, "forbidden", "该证书不属于本发证机关 / this certificate belongs to another issuer")


def _answer(change: Change, registration_no: str, action: str, created: int = 200):
    if change.outcome is Outcome.FORBIDDEN:
        _deny(registration_no, action, f"owned by {change.detail}", change.detail)
    if change.outcome is Outcome.NOT_FOUND:
        raise ApiError(404, "not_found", "未查询到该使用登记编号 / no such registration number")
    if change.outcome is Outcome.CONFLICT:
        raise ApiError(409, "conflict", change.detail)
    if change.outcome is Outcome.REFUSED:
        raise ApiError(409, "transition_refused", change.detail)
    status = created if change.outcome is Outcome.CREATED else 200
    return jsonify({"outcome": change.outcome.value, "registration_no": registration_no, "version": change.version,
                    "before": change.before.value if change.before else None,
                    "after": change.after.value if change.after else None}), status


@bp.post("/certificates")
@require_token
def register():
    record, qr_text = _signed_record(json_object())
    s = services()
    change = s.store.register(record, qr_text, g.actor, s.config.now())
    return _answer(change, record.registration_no, "register", created=201)


@bp.get("/certificates/<regno:registration_no>")
@require_token
def show(registration_no: str):
    s = services()
    stored = s.store.get(registration_no)
    if stored is None:
        raise ApiError(404, "not_found", "未查询到该使用登记编号 / no such registration number")
    if stored.issuer != g.issuer:
        _deny(registration_no, "read", f"owned by {stored.issuer}", stored.issuer)
    return jsonify({"registration_no": registration_no, "version": stored.version, "state": stored.state.value,
                    "reason": stored.reason, "since": stored.since.isoformat(), "record": mask_record(stored.record),
                    "history": s.store.history(registration_no)})


@bp.post("/certificates/<path:registration_no>/status")
@require_token
def change_status(registration_no: str):
    body = json_object()
    try:
        target = State(str(body.get("state")))
    except ValueError:
        target = None
    if target not in _ISSUER_STATES:
        raise ApiError(400, "bad_state", "state 须为 valid、suspended、revoked 或 ended / state must be valid, "
                                         "suspended, revoked or ended; corrections supersede")
    reason = _reason(body)
    s = services()
    change = s.store.change_status(registration_no, target, reason, g.actor, s.config.now(), g.issuer)
    return _answer(change, registration_no, "status")


@bp.post("/certificates/<path:registration_no>/dismantling")
@require_token
def dismantling(registration_no: str):
    """A completed dismantling notice (拆卸告知) ends the certificate from its completion time."""
    body = json_object()
    s = services()
    completed_at = _time(body.get("completed_at"), "completed_at")
    if completed_at > s.config.now():
        raise ApiError(400, "bad_time", "拆卸完成时间不能晚于当前时间 / completed_at is in the future")
    notice = body.get("notice_no")
    if not (isinstance(notice, str) and notice.strip() and len(notice) <= 64 and notice.isprintable()):
        raise ApiError(400, "bad_notice", "须填写拆卸告知编号 notice_no（不超过 64 字的文本，不含不可见字符） / "
                                          "notice_no, the dismantling notice's number, is required (text of at most "
                                          "64 visible characters)")
    notice = notice.strip()
    reason = f"拆卸告知已完成（{notice}） / dismantling notice {notice} completed"
    change = s.store.change_status(registration_no, State.ENDED, reason, g.actor, s.config.now(), g.issuer,
                                   since=completed_at, action="dismantling", notice_no=notice)
    return _answer(change, registration_no, "dismantling")


@bp.post("/certificates/<path:registration_no>/corrections")
@require_token
def correction(registration_no: str):
    """Version N+1 is registered and N superseded in one atomic step."""
    body = json_object()
    record, qr_text = _signed_record(body)
    if record.registration_no != registration_no or record.version < 2:
        raise ApiError(400, "bad_version", "record：更正须为同一使用登记编号的新版本（version 2 起） / record: a correction "
                                           "is a later version (2 or more) of this registration number")
    s = services()
    change = s.store.correct(record, qr_text, _reason(body), g.actor, s.config.now(), g.issuer)
    return _answer(change, registration_no, "correction", created=201)


@bp.get("/audit")
@require_token
def audit():
    """The issuer's own changes, complete."""
    since = paging.since()
    entries = services().store.audit(since, 500, issuer=g.issuer)
    return jsonify({"entries": [e.to_json() for e in entries], "next": entries[-1].id if entries else since})


@bp.get("/refusals")
@require_token
def refusals():
    """Refused attempts on the issuer's certificates, and its own, within the log's retention."""
    since = paging.since()
    entries = services().store.refusals(since, 500, issuer=g.issuer)
    return jsonify({"entries": [e.to_json() for e in entries], "next": entries[-1].id if entries else since})


def _reason(body: dict[str, Any]) -> str:
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
        raise ApiError(400, "bad_reason", "须填写原因 reason（200 字以内） / reason: a reason of at most 200 characters "
                                          "is required")
    found = format_characters(reason)
    if found:
        raise ApiError(400, "bad_reason", f"原因 reason 不得含不可见的格式字符：{', '.join(found)} / reason must not "
                                          f"contain invisible format characters: {', '.join(found)}")
    return reason.strip()


def _time(value: Any, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ApiError(400, "bad_time", f"{name} 须为带时区的 ISO 8601 时间 / {name} must be ISO 8601") from None
    if moment.tzinfo is None:
        raise ApiError(400, "bad_time", f"{name} 须带时区 / {name} needs a time zone")
    try:
        moment.astimezone(UTC)  # year 1 east of UTC has no UTC time: refused here, not a 500 later
    except OverflowError:
        raise ApiError(400, "bad_time", f"{name} 超出范围 / {name} is out of range") from None
    return moment
