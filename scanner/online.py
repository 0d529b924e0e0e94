"""The service over HTTP (urllib only): the verify API, the trust list and the status feed.

On site the signal is poor: requests carry a short timeout, and once the service has failed to
answer, the rest of the run goes offline at once instead of waiting out a timeout per code.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from keys.answer import Answer, AnswerError, SignatureResult, State
from keys.verdict import SIGNED_FIELDS

from .offline import NoOfflineData, OfflineChecker
from .verdicts import BAD_SIGNATURES, Checked

USER_AGENT = "crane-scan/0.1"
DEFAULT_TIMEOUT = 3.0
MAX_RESPONSE = 16 * 1024 * 1024

FELL_BACK = "联网核验失败（{why}），已改用离线数据 / the service could not be reached ({why}); answered from offline data"
LOCAL_DISAGREES = ("服务答复的签名结果与本机用离线信任列表核验的结果（{result}）不同，以本机结果为准 / the service's signature "
                   "result differs from the check made here with the offline trust list ({result}); the local result stands")
NOT_CHECKED_LOCALLY = ("签名未能在本机核验（{why}），仅凭服务答复 / the signature could not be checked locally ({why}); "
                       "this is the service's word alone")
FIELDS_ALTERED = ("服务返回的证书内容与二维码签名内容不符（{fields}），已按签名内容显示和比对 / the service's certificate "
                  "differs from the signed code ({fields}); the signed values are shown and compared")
STATE_DISAGREES = ("服务答复状态为 {theirs}，但已签名的离线数据记录为 {mine}（不可撤回），以离线数据为准 / the service says "
                   "{theirs}, but the signed offline data records {mine}, which is never undone; the offline record stands")
# States the registry never moves a certificate out of: the signed feed saying so outweighs any later answer.
FINAL_STATES = frozenset({State.REVOKED, State.ENDED, State.SUPERSEDED})
# Compared between the service's certificate and the signed code (the rest is shown from the code silently).
_NOTED_FIELDS = ("registration_no", "version", "equipment.record_no", "equipment.factory_serial", "project.name")


class Unreachable(Exception):
    """The service did not give a usable answer: network error, timeout, HTTP error, or not JSON."""


def base_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"不是 http(s) 地址 / not an http(s) URL: {url!r}")
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))


class ServiceClient:
    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT):
        self.url = base_url(url)
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - http(s) checked in base_url
                return resp.status, dict(resp.headers.items()), resp.read(MAX_RESPONSE)
        except urllib.error.HTTPError as exc:
            detail = _error_message(exc)
            raise Unreachable(f"HTTP {exc.code}{': ' + detail if detail else ''}") from None
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise Unreachable(f"no answer within {self.timeout:g} s") from None
            raise Unreachable(str(reason)) from None

    def get_json(self, path: str) -> tuple[Any, dict[str, str]]:
        _, headers, raw = self.request("GET", path)
        return _json(raw), headers

    def post_json(self, path: str, body: Any) -> tuple[Any, dict[str, str]]:
        _, headers, raw = self.request("POST", path, body)
        return _json(raw), headers

    def verify(self, text: str) -> tuple[Answer, dict[str, str]]:
        body, headers = self.post_json("/api/v1/verify", {"qr": text})
        try:
            return Answer.from_json(body), headers
        except AnswerError as exc:
            raise Unreachable(f"the service's answer is not a verification answer: {exc}") from None

    def trust_list(self) -> bytes:
        _, _, raw = self.request("GET", "/api/v1/trust-list")
        return raw

    def feed_page(self, since: str, limit: int) -> Any:
        query = urllib.parse.urlencode({"since": since, "limit": limit})
        document, _ = self.get_json(f"/api/v1/status-feed?{query}")
        return document


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise Unreachable("the service answered with something other than JSON") from None


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read(65536))
        return str(body.get("message", "")) if isinstance(body, dict) else ""
    except (ValueError, OSError):
        return ""


class OnlineChecker:
    """Ask the service; when it cannot answer, answer from the offline cache and say so."""

    def __init__(self, client: ServiceClient, fallback: OfflineChecker | None,
                 on_fallback: Callable[[str], None] | None = None):
        self.client = client
        self.fallback = fallback
        self.down: str | None = None   # why the service is considered down for the rest of the run
        self.on_fallback = on_fallback

    def check(self, text: str, now: datetime) -> Checked:
        if self.down is None:
            try:
                answer, headers = self.client.verify(text)
            except Unreachable as exc:
                self._went_down(str(exc))
            else:
                if "Retry-After" in headers and answer.status.state is State.UNKNOWN:
                    # The service is up but its registry store is not: the cache knows more.
                    self._went_down("登记库暂时无法访问 / registry store unavailable")
                else:
                    return self._second_opinion(Checked(answer, "online", 0), text, now)
        assert self.down is not None
        if self.fallback is None:
            raise NoOfflineData(f"the service at {self.client.url} cannot be reached ({self.down}) "
                                "and there is no offline data")
        try:
            checked = self.fallback.check(text, now)
        except NoOfflineData as exc:
            raise NoOfflineData(f"the service at {self.client.url} cannot be reached ({self.down}), "
                                f"and offline: {exc}") from None
        checked.notes.insert(0, FELL_BACK.format(why=self.down))
        return checked

    def _second_opinion(self, checked: Checked, text: str, now: datetime) -> Checked:
        """The service's answer checked here against what the offline data can prove, over a network path
        (or a service) that may lie: the signature with the offline trust list (a bad signature, or a key
        the list does not hold, is not taken as good), the certificate's fields from the signed code
        (the plate is compared with those), and a state the signed feed says cannot be undone (revoked,
        ended, superseded) over the service's word."""
        if self.fallback is None:
            return second_opinion(checked, None, "no offline data")
        try:
            local = self.fallback.check(text, now)
        except NoOfflineData as exc:
            return second_opinion(checked, None, str(exc))
        return second_opinion(checked, local)

    def _went_down(self, why: str) -> None:
        self.down = why
        if self.on_fallback:
            self.on_fallback(why)


def second_opinion(checked: Checked, local: Checked | None, why: str = "no offline data") -> Checked:
    """OnlineChecker._second_opinion's rule, given the local answer (None: none, for `why`); pinned for the
    phone's core (webapp/src/core/merge.js) by docs/test-vectors/merge.json."""
    if local is None:
        checked.notes.append(NOT_CHECKED_LOCALLY.format(why=why))
        return checked
    answer, mine = checked.answer, local.answer
    theirs_sig, my_sig = answer.signature.result, mine.signature.result
    if my_sig is not theirs_sig and (my_sig in BAD_SIGNATURES or (theirs_sig is SignatureResult.VALID
                                                                  and my_sig is SignatureResult.UNKNOWN_KEY)):
        answer = replace(answer, signature=mine.signature)
        checked.notes.append(LOCAL_DISAGREES.format(result=my_sig.value))
    if my_sig is SignatureResult.VALID and mine.certificate is not None:
        certificate, altered = signed_over(answer.certificate, mine.certificate)
        answer = replace(answer, certificate=certificate)
        if altered:
            checked.notes.append(FIELDS_ALTERED.format(fields=", ".join(altered)))
    if mine.status.state in FINAL_STATES and answer.status.state is not mine.status.state:
        checked.notes.append(STATE_DISAGREES.format(theirs=answer.status.state.value, mine=mine.status.state.value))
        answer = replace(answer, status=mine.status)
    checked.answer = answer
    return checked


def signed_over(shown: dict[str, Any] | None, signed: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The service's certificate with every signed field taken from the code; the noted fields that differed."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in (shown or {}).items()}
    altered = []
    for path in sorted(SIGNED_FIELDS):
        section, _, name = path.rpartition(".")
        source = signed.get(section) if section else signed
        if not isinstance(source, dict) or name not in source:
            continue
        target = out.setdefault(section, {}) if section else out
        if not isinstance(target, dict):
            target = out[section] = {}
        if target.get(name) != source[name]:
            if path in _NOTED_FIELDS and (shown or {}):
                altered.append(path)
            target[name] = source[name]
    return out, altered
