"""Public JSON: resolve a QR code, look a certificate up, and the signed feeds for offline scanners."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, request

from keys.feed import sign_page
from keys.trustlist import TrustList

from . import paging
from .checks import check_by_numbers, check_text
from .errors import RETRY_AFTER, ApiError, json_object
from .privacy import scrub
from .resolve import Resolution
from .services import services

bp = Blueprint("api", __name__, url_prefix="/api/v1")
FEED_PAGE = 500


def answer_response(resolution: Resolution) -> Response:
    response = Response(resolution.json(), mimetype="application/json")
    if resolution.store_down:
        response.headers.update(RETRY_AFTER)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/verify")
def verify_post():
    text = json_object(' {"qr": "..."}').get("qr")
    if not isinstance(text, str):
        raise ApiError(400, "missing_qr", "缺少字符串字段 qr / a string field `qr` is required")
    return answer_response(check_text(text))


@bp.get("/verify")
def verify_get():
    text = request.args.get("qr")
    if text is None:
        raise ApiError(400, "missing_qr", "缺少查询参数 qr / the `qr` query parameter is required")
    if len(text) > services().config.max_qr_query:
        raise ApiError(413, "too_large", "二维码内容过长 / QR text too long")
    return answer_response(check_text(text))


@bp.get("/certificates/<path:registration_no>")
def certificate(registration_no: str):
    """Found only when the registration number and the crane's record number both match."""
    answer = check_by_numbers(registration_no, request.args.get("record_no", ""))
    if answer is None:
        raise ApiError(404, "not_found", "未查询到登记信息，请核对使用登记编号和产权备案编号 / "
                                         "no certificate with this registration number and record number")
    response = jsonify(answer.to_json())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/trust-list")
def trust_list():
    document, etag = services().trust.document()
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(document, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.get("/status-feed")
def status_feed():
    s = services()
    since, limit = paging.since(), paging.limit(FEED_PAGE)
    region = request.args.get("region")
    if region is not None and not (region.isascii() and region.isdigit() and len(region) in (2, 4, 6)):
        raise ApiError(400, "bad_region", "region 须为 2、4 或 6 位行政区划代码前缀 / `region` must be a division-code "
                       "prefix of 2, 4 or 6 digits, such as 21 or 2101")
    if s.feed_key is None:
        raise ApiError(503, "no_feed_key", "服务未配置状态源签名密钥 / no feed signing key configured")
    entries = s.store.feed(since, limit + 1)
    more = len(entries) > limit
    entries = entries[:limit]
    following = entries[-1].cursor if entries else since
    page = {"format": 1, "since": since, "next": following, "more": more,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if region is not None:
        # A regional page: the entries of the certificates whose issuer's code starts with the region, `next`
        # still the last entry read (a page may hold none and say more), the region signed inside the page.
        inside = in_region(s.trust.current(), region)
        entries = [e for e in entries if inside(e.registration_no)]
        page["region"] = region
    page["entries"] = [{**e.to_json(), "reason": scrub(e.reason)} for e in entries]
    response = jsonify(sign_page(page, s.feed_key))
    response.headers["Cache-Control"] = "no-store"
    return response


def in_region(trust: TrustList, region: str) -> Callable[[str], bool]:
    """Whether a registration number belongs to the region: an issuer whose code starts with it owns the number."""
    issuers = [i for i in trust.issuers if i.code.startswith(region)]
    return lambda registration_no: any(i.owns(registration_no) for i in issuers)
