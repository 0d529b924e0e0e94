"""Paging of the lists read in order (status feed, inspection records, audit and refusals): one reading of
`since` and `limit` for every route, so each answers a bad value alike (400, Chinese first)."""

from __future__ import annotations

import re

from flask import request

from .errors import ApiError

MAX_LIMIT = 5000
_STREAM_ID = re.compile(r"(\d{1,20})-(\d{1,20})", re.ASCII)
_ID_MAX = 2**64 - 1


def is_cursor(value: str) -> bool:
    """"0" or a Redis stream id `ms-seq` (ASCII digits, each part below 2**64): anything else is 400, not a 500."""
    if value == "0":
        return True
    match = _STREAM_ID.fullmatch(value)
    if not match:
        return False
    ms, seq = int(match.group(1)), int(match.group(2))
    # the id after the very last one does not exist: Redis refuses an exclusive range from it
    return ms <= _ID_MAX and seq <= _ID_MAX and (ms, seq) != (_ID_MAX, _ID_MAX)


def since() -> str:
    """The request's `since` cursor ("0", the start, when absent)."""
    value = request.args.get("since", "0")
    if not is_cursor(value):
        raise ApiError(400, "bad_cursor", "since 必须是上一页返回的 next / `since` must be a `next` from a previous page")
    return value


def limit(default: int) -> int:
    """The request's `limit`, held between 1 and MAX_LIMIT."""
    try:
        return min(max(int(request.args.get("limit", default)), 1), MAX_LIMIT)
    except ValueError:
        raise ApiError(400, "bad_limit", "limit 必须是整数 / `limit` must be a whole number") from None
