"""The inspection API: inspectors upload, supervisors' systems read, phones exchange an enrolment code."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, g, jsonify, redirect, request

from .. import issuer_token, paging
from ..errors import ApiError, json_object
from ..services import services
from ..store.tokens import Principal, Role
from . import parts
from .access import code_of
from .ingest import MAX_REQUEST, BatchError, Outcome, ingest, records_of
from .store import province_of

bp = Blueprint("inspections", __name__)
enrol_bp = Blueprint("enrol", __name__)
PAGE = 500


def principal_for(*roles: Role) -> Callable:
    """The view runs with `g.principal`, a live token of one of `roles`; 401 without one, 403 for another role."""
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            s = services()
            text = issuer_token.presented(request.headers.get("Authorization", ""))
            found = s.store.principal(text, s.config.now()) if text is not None else None
            if found is None:
                raise ApiError(401, "unauthorized", "缺少、无效或已过期的访问令牌 / missing, invalid or expired bearer token",
                               {"WWW-Authenticate": 'Bearer realm="crane-inspections"'})
            if found.role not in roles:
                raise ApiError(403, "wrong_role", f"此令牌的角色不能使用该接口 / a {found.role.value} token cannot do this")
            g.principal = found
            return view(*args, **kwargs)
        return wrapper
    return decorate


@bp.post("/api/v1/inspections")
@principal_for(Role.INSPECTOR)
def upload():
    request.max_content_length = MAX_REQUEST
    body = json_object(' {"inspections": [...]}')
    s, p = services(), parts()
    try:
        raws = records_of(body)
    except BatchError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    principal: Principal = g.principal
    results = ingest(raws, principal, s.config.now(), s.trust.current(), s.store, p.records, p.photos,
                     p.retention.records)
    answer = {"results": [r.to_json() for r in results]}
    if all(r.outcome is Outcome.REFUSED for r in results):
        # Nothing in the batch could be kept: a client error, said as one, with each record's reason.
        response = jsonify({"code": "all_refused", "message": results[0].reason, **answer})
        response.status_code = 422
        return response
    return jsonify(answer)


@bp.get("/api/v1/inspections")
@principal_for(Role.SUPERVISOR)
def read():
    """The supervisor's region, in order of receipt, paged like the status feed."""
    since, limit = paging.since(), paging.limit(PAGE)
    principal: Principal = g.principal
    items, cursor, more = parts().records.log(province_of(principal.scope), since, limit)
    mine = [i.to_json(principal.personal_data) for i in items if i.inspector.region.startswith(principal.scope)]
    response = jsonify({"inspections": mine, "next": cursor, "more": more})
    response.headers["Cache-Control"] = "no-store"
    return response


@enrol_bp.post("/api/v1/enrol")
def enrol():
    """A phone exchanges a one-time enrolment code for its token, once."""
    code = json_object(' {"code": "..."}').get("code")
    s, p = services(), parts()
    now = s.config.now()
    token = p.enrolments.redeem(code_of(code), now) if isinstance(code, str) and len(code) < 300 else None
    found = s.store.principal(token, now) if token else None
    if found is None:
        raise ApiError(404, "unknown_code", "登记码无效、已使用或已过期 / enrolment code unknown, used or expired")
    response = jsonify({"token": token, "role": found.role.value, "region": found.scope, "name": found.name,
                        "expires_at": found.expires_at.isoformat() if found.expires_at else None})
    response.headers["Cache-Control"] = "no-store"
    return response


@enrol_bp.get("/E/<code>")
def enrolment_landing(code: str):
    """A phone camera that opens an enrolment QR lands in the phone app, the code after '#' (never sent on)."""
    return redirect(f"/scan/#enrol={re.sub(r'[^A-Z2-7]', '', code_of(code))[:40]}", 303)
