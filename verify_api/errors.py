"""Every error has one shape per audience: JSON `{"code", "message"}` for the API, a calm page for a person.

Nothing reaches a bare 500. The request-body helpers live here too, because a body that cannot be read
is an error answer like any other.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Flask, current_app, jsonify, render_template, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .store import StoreUnavailable

# How long a client waits before asking again when the registry is down or the service is not ready.
RETRY_AFTER = {"Retry-After": "5"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def read_json() -> Any:
    """The request body parsed as JSON; None when it is not JSON.

    Werkzeug cuts a chunked body off at MAX_CONTENT_LENGTH without saying so: a body that reaches the
    limit is refused as too large however it was sent. JSON nested too deep for the parser is not JSON,
    and a body the server could not read (a broken chunk, a client gone) is a bad request.
    """
    try:
        data = request.get_data(cache=True)
    except (OSError, ParseException):  # gunicorn parses a chunked body as the app reads it
        raise ApiError(400, "bad_body", "请求体不完整或格式错误 / the request body could not be read") from None
    limit = request.max_content_length
    if limit is not None and len(data) >= limit:
        raise RequestEntityTooLarge()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    # orjson refuses what the JSON standard allows and Python's parser reads: escaped lone surrogates
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def json_object(hint: str = "") -> dict[str, Any]:
    """The request body as a JSON object, or the API error that says what to send instead."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", f"请以 application/json 提交{hint} / send JSON")
    body = read_json()
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "请求体不是 JSON 对象 / body is not a JSON object")
    return body


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None):
    response = jsonify({"code": code, "message": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def error_page(code: int, headers: dict[str, str] | None = None):
    """The page a person sees for an error: what happened in plain words, never a stack trace."""
    return render_template("error.html", code=code), code, {"Cache-Control": "no-store", **(headers or {})}


def page_error(exc: Exception):
    """On the public pages every error is a page for a person, not JSON (the API keeps its JSON)."""
    if isinstance(exc, HTTPException):
        retry_after = getattr(exc, "retry_after", None)
        return error_page(exc.code or 500, {"Retry-After": str(retry_after)} if retry_after else None)
    if isinstance(exc, StoreUnavailable):
        return error_page(503, RETRY_AFTER)
    current_app.logger.exception("unhandled error on a public page")
    return error_page(500)


def install(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.errorhandler(StoreUnavailable)
    def store_down(exc: StoreUnavailable):
        return error_response(503, "store_unavailable", "登记库暂时无法访问，请稍后重试 / registry unavailable, retry later",
                              RETRY_AFTER)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        # a 405 names the methods that are allowed (RFC 9110), whichever body it has
        valid_methods = getattr(exc, "valid_methods", None)
        allow = {"Allow": ", ".join(valid_methods)} if valid_methods else {}
        if not _wants_json() and exc.code in (404, 405):
            body, status, headers = error_page(exc.code or 500)
            return body, status, {**headers, **allow}
        code = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(exc.code or 500, code, exc.description or exc.name, allow)
        retry_after = getattr(exc, "retry_after", None)
        if exc.code == 429 and retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "服务内部错误 / internal error")


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"
