"""Supervisors' pages under /supervise/: sign in with a supervisor token, then a session cookie.

Server-rendered like the public pages, no script. The cookie holds only a random session id (HttpOnly,
SameSite=Strict, Secure unless the public URL is loopback); every form that changes something
carries the session's CSRF token; the sign-in form is refused when the browser says it came from another
site. A supervisor sees the inspections of its region only.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for

from keys.answer import SIGNATURE_LABELS, STATE_LABELS

from .. import issuer_token
from ..errors import page_error
from ..services import services
from ..store.tokens import Role
from . import parts
from .access import Session
from .export import to_csv
from .record import FLAG_WORDS, Flag
from .store import StoredInspection, province_of

bp = Blueprint("supervise", __name__, url_prefix="/supervise")
# Sign-in attempts are rate limited as a blueprint of their own (Flask-Limiter limits blueprints or
# functions decorated before they are registered).
signin_bp = Blueprint("supervise_signin", __name__, url_prefix="/supervise")
COOKIE = "crane_supervise"
CHINA = timezone(timedelta(hours=8))
SCAN_LIMIT = 5000  # records read per list; a narrower date range reaches further back
SHOWN = 200


def _error(exc: Exception):
    return page_error(exc)


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


for _blueprint in (bp, signin_bp):
    _blueprint.register_error_handler(Exception, _error)
    _blueprint.after_request(_private)


def signed_in(view):
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        s = services()
        session = parts().sessions.get(request.cookies.get(COOKIE, ""), s.config.now())
        if session is None or session.principal.role is not Role.SUPERVISOR:
            return redirect(url_for("supervise.signin_form"), 303)
        g.session = session
        return view(*args, **kwargs)
    return wrapper


def _same_site() -> bool:
    """The browser's word that a form came from this site (Sec-Fetch-Site, else Origin)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


@bp.get("/signin")
def signin_form():
    return render_template("supervise/signin.html", failed=False)


@signin_bp.post("/signin")
def signin():
    s = services()
    if not _same_site():
        abort(403)
    now = s.config.now()
    text = request.form.get("token", "").strip()
    principal = s.store.principal(text, now) if text and issuer_token.parse(text) else None
    if principal is None or principal.role is not Role.SUPERVISOR:
        return render_template("supervise/signin.html", failed=True), 401
    sid, _ = parts().sessions.open(principal, now)
    response = redirect(url_for("supervise.index"), 303)
    response.set_cookie(COOKIE, sid, httponly=True, secure=_secure_cookie(s.config.public_url), samesite="Strict",
                        path="/supervise")
    return response


def _secure_cookie(public_url: str) -> bool:
    """Secure unless the service is only reached on this machine: behind nginx terminating TLS the request
    itself looks like plain HTTP, so neither it nor a header anyone can send decides."""
    host = urlsplit(public_url).hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


@bp.post("/signout")
@signed_in
def signout():
    _check_csrf()
    parts().sessions.close(request.cookies.get(COOKIE, ""))
    response = redirect(url_for("supervise.signin_form"), 303)
    response.delete_cookie(COOKIE, path="/supervise", httponly=True, samesite="Strict")
    return response


def _check_csrf() -> None:
    session: Session = g.session
    # Bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, a 500) instead of saying no.
    given = request.form.get("csrf", "").encode("utf-8")
    if not hmac.compare_digest(given, session.csrf.encode("utf-8")) or not _same_site():
        abort(403)


@dataclass(frozen=True)
class Filters:
    region: str = ""
    issuer: str = ""
    date_from: date | None = None
    date_to: date | None = None
    inspector: str = ""
    certificate: str = ""
    flag: Flag | None = None

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        def day(name: str) -> date | None:
            try:
                return date.fromisoformat(args.get(name, "")) if args.get(name) else None
            except ValueError:
                return None
        flag = args.get("flag", "")
        return cls(args.get("region", "").strip()[:6], args.get("issuer", "").strip()[:6], day("from"), day("to"),
                   args.get("inspector", "").strip()[:64], args.get("certificate", "").strip()[:64],
                   Flag(flag) if flag in Flag._value2member_map_ else None)

    def window(self) -> tuple[datetime | None, datetime | None]:
        start = datetime.combine(self.date_from, datetime.min.time(), CHINA) if self.date_from else None
        end = datetime.combine(self.date_to + timedelta(days=1), datetime.min.time(), CHINA) if self.date_to else None
        return start, end

    def keeps(self, item: StoredInspection, personal_data: bool) -> bool:
        """`personal_data`: whether the viewer may see inspectors' names; if not, the inspector filter
        matches the token id only, so guessing at names cannot reveal who made a check."""
        names = (item.inspector.token_id, item.inspector.name) if personal_data else (item.inspector.token_id,)
        checks = (
            not self.region or item.inspector.region.startswith(self.region),
            not self.issuer or item.found.issuer.startswith(self.issuer),
            not self.inspector or self.inspector in names,
            not self.certificate or item.found.registration_no == self.certificate,
            self.flag is None or self.flag in item.flags,
        )
        return all(checks)

    def query(self) -> dict[str, str]:
        return {k: v for k, v in (("region", self.region), ("issuer", self.issuer),
                                  ("from", self.date_from.isoformat() if self.date_from else ""),
                                  ("to", self.date_to.isoformat() if self.date_to else ""),
                                  ("inspector", self.inspector), ("certificate", self.certificate),
                                  ("flag", self.flag.value if self.flag else "")) if v}


def _in_scope(item: StoredInspection) -> bool:
    return item.inspector.region.startswith(g.session.principal.scope)


def _matching(filters: Filters) -> list[StoredInspection]:
    scope = g.session.principal.scope
    start, end = filters.window()
    items = parts().records.received(province_of(scope), start, end, SCAN_LIMIT)
    personal_data = g.session.principal.personal_data
    found = [i for i in items if _in_scope(i) and filters.keeps(i, personal_data)]
    # Flagged first, newest first within each: what needs a supervisor's eye comes to the top.
    return sorted(found, key=lambda i: (not i.flags, -i.record.checked_at.timestamp()))


def _context(**extra: Any) -> dict[str, Any]:
    session: Session = g.session
    return {"principal": session.principal, "csrf": session.csrf, "flag_words": FLAG_WORDS, "flags": list(Flag),
            "state_labels": STATE_LABELS, "signature_labels": SIGNATURE_LABELS, "china": _china,
            "masked": _name, **extra}


def _china(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _name(item: StoredInspection) -> str:
    return item.to_json(g.session.principal.personal_data)["inspector"]["name"]


@bp.get("/")
@signed_in
def index():
    filters = Filters.from_args(request.args)
    found = _matching(filters)
    return render_template("supervise/list.html", **_context(filters=filters, items=found[:SHOWN], total=len(found),
                                                             query=filters.query()))


@bp.get("/export.csv")
@signed_in
def export():
    filters = Filters.from_args(request.args)
    body = to_csv(_matching(filters), g.session.principal.personal_data)
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="inspections.csv"'})


@bp.get("/certificate/<path:registration_no>")
@signed_in
def certificate(registration_no: str):
    scope = g.session.principal.scope
    items = [i for i in parts().records.of_certificate(province_of(scope), registration_no) if _in_scope(i)]
    return render_template("supervise/certificate.html", **_context(registration_no=registration_no, items=items))


def _inspection(inspection_id: str) -> StoredInspection:
    item = parts().records.get(province_of(g.session.principal.scope), inspection_id[:64])
    if item is None or not _in_scope(item):
        abort(404)
    return item


@bp.get("/inspection/<inspection_id>")
@signed_in
def inspection(inspection_id: str):
    item = _inspection(inspection_id)
    photo_kept = bool(item.photo) and parts().photos.get(item.photo) is not None
    note = item.to_json(g.session.principal.personal_data)["note"]
    return render_template("supervise/inspection.html", **_context(item=item, photo_kept=photo_kept, note=note))


@bp.get("/inspection/<inspection_id>/photo.jpg")
@signed_in
def photo(inspection_id: str):
    item = _inspection(inspection_id)
    data = parts().photos.get(item.photo) if item.photo else None
    if data is None:
        abort(404)
    return Response(data, mimetype="image/jpeg")
