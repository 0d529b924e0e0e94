"""The answer to "is this certificate good?": signature result, registry status, verdict in zh-CN and en.

Shared by the service and the scanner so both word a verdict the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, NotRequired, TypeVar

from typing_extensions import TypedDict  # pydantic reads typing's own only from Python 3.12

from .errors import CraneError


class AnswerError(CraneError, ValueError):
    """An answer in JSON (the service's, read by the scanner) is not one this version can read."""


class SignatureResult(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN_KEY = "unknown_key"
    KEY_NOT_VALID_AT_ISSUE = "key_not_valid_at_issue"
    KEY_REVOKED = "key_revoked"
    MALFORMED = "malformed"
    NOT_APPLICABLE = "not_applicable"


class State(StrEnum):
    VALID = "valid"
    ENDED = "ended"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    PAPER_LEGACY = "paper_legacy"
    NOT_FOUND = "not_found"
    UNKNOWN = "unknown"


class Source(StrEnum):
    REGISTRY = "registry"
    OFFLINE = "offline"


STATE_LABELS: dict[State, tuple[str, str]] = {
    State.VALID: ("有效", "Valid"),
    State.ENDED: ("已终止", "Ended"),
    State.SUPERSEDED: ("已更正", "Superseded"),
    State.REVOKED: ("已撤销", "Revoked"),
    State.SUSPENDED: ("已暂扣", "Suspended"),
    State.PAPER_LEGACY: ("纸质证书", "Paper certificate"),
    State.NOT_FOUND: ("未查询到登记信息", "No registration found"),
    State.UNKNOWN: ("状态未知", "Status unknown"),
}

# What a person reads, calm and precise: a signature we cannot check is not called forged.
_SIGNATURE_VERDICTS: dict[SignatureResult, tuple[str, str]] = {
    SignatureResult.INVALID: ("签名无效，证书内容可能被篡改", "Signature invalid: the certificate may have been altered"),
    SignatureResult.UNKNOWN_KEY: ("无法识别签发机关的密钥，请联系发证机关",
                                  "Issuer key not recognised; contact the issuing authority"),
    SignatureResult.KEY_NOT_VALID_AT_ISSUE: ("签发时密钥不在有效期内", "Signed outside the issuer key's validity period"),
    SignatureResult.KEY_REVOKED: ("签发密钥已被吊销，证书不可信", "Signed with a revoked issuer key; not trustworthy"),
    SignatureResult.MALFORMED: ("不是有效的起重机械使用登记证书二维码", "Not a crane registration certificate code"),
}

_STATE_VERDICTS: dict[State, tuple[str, str]] = {
    State.VALID: ("证书有效", "Certificate valid"),
    State.ENDED: ("证书已终止（已办理拆卸告知）", "Certificate ended (dismantled)"),
    State.SUPERSEDED: ("证书已更正，本版本作废，请以新版本为准", "Certificate corrected; this version is void"),
    State.REVOKED: ("证书已撤销", "Certificate revoked"),
    State.SUSPENDED: ("证书已暂扣", "Certificate suspended"),
    State.PAPER_LEGACY: ("纸质证书，登记有效，请核对纸质原件", "Paper certificate registered; check the original paper"),
    State.NOT_FOUND: ("未查询到登记信息，请联系发证机关", "No registration found; contact the issuing authority"),
    State.UNKNOWN: ("暂时无法确认证书状态，请稍后重试", "Status cannot be confirmed right now; try again later"),
}

SIGNATURE_LABELS: dict[SignatureResult, tuple[str, str]] = {
    SignatureResult.VALID: ("签名有效", "Signature valid"),
    SignatureResult.INVALID: ("签名无效", "Signature invalid"),
    SignatureResult.UNKNOWN_KEY: ("密钥未知", "Unknown key"),
    SignatureResult.KEY_NOT_VALID_AT_ISSUE: ("签发时密钥无效", "Key not valid at signing time"),
    SignatureResult.KEY_REVOKED: ("密钥已吊销", "Key revoked"),
    SignatureResult.MALFORMED: ("无法识别的二维码", "Not one of our codes"),
    SignatureResult.NOT_APPLICABLE: ("无电子签名", "No electronic signature"),
}

MISMATCH_VERDICT = ("证书与设备不符", "Certificate does not match this crane or site")


# The answer as JSON: what to_json returns, typed (mypy checks every to_json against these), and the
# source of the OpenAPI document's Answer schema (verify_api/openapi.py).
class WithJsonSchema:
    """A field's JSON schema, given to pydantic through its annotation protocol when verify_api/openapi.py
    builds the OpenAPI document, so reading answers needs no pydantic."""

    def __init__(self, schema: dict[str, Any]):
        self.schema = schema

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return dict(self.schema)  # the whole schema of the field, as pydantic's own WithJsonSchema gives


def _one_of(kind: type[StrEnum]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": [m.value for m in kind]})


_TIME = WithJsonSchema({"type": "string", "format": "date-time"})
_OPTIONAL_TIME = WithJsonSchema({"type": ["string", "null"], "format": "date-time"})


class IssuerRefJSON(TypedDict):
    code: str
    name: str


class SignatureJSON(TypedDict):
    result: Annotated[str, _one_of(SignatureResult)]
    kid: str | None
    alg: str | None
    issuer: IssuerRefJSON | None


class LabelJSON(TypedDict):
    zh: str
    en: str


class SupersededByJSON(TypedDict):
    registration_no: str
    version: int


class StatusJSON(TypedDict):
    state: Annotated[str, _one_of(State)]
    label: LabelJSON
    reason: str
    since: Annotated[str | None, _OPTIONAL_TIME]
    source: Annotated[str, _one_of(Source)]
    superseded_by: SupersededByJSON | None
    data_time: NotRequired[Annotated[str | None, _OPTIONAL_TIME]]  # offline answers only


class VerdictJSON(TypedDict):
    ok: bool
    zh: str
    en: str


class AnswerJSON(TypedDict):
    verdict: VerdictJSON
    signature: SignatureJSON
    status: StatusJSON
    certificate: Annotated[dict[str, Any] | None, WithJsonSchema({
        "type": ["object", "null"], "description": "The registered record (docs/record.schema.json), personal "
                                                   "data masked; or the signed code's own fields"})]
    checked_at: Annotated[str, _TIME]
    mismatches: NotRequired[list[str]]


@dataclass(frozen=True)
class IssuerRef:
    code: str
    name: str

    def to_json(self) -> IssuerRefJSON:
        return {"code": self.code, "name": self.name}


@dataclass(frozen=True)
class Signature:
    result: SignatureResult
    kid: str | None = None
    alg: str | None = None
    issuer: IssuerRef | None = None

    def to_json(self) -> SignatureJSON:
        return {"result": self.result.value, "kid": self.kid, "alg": self.alg,
                "issuer": self.issuer.to_json() if self.issuer else None}


@dataclass(frozen=True)
class Status:
    state: State
    reason: str = ""
    since: datetime | None = None
    source: Source = Source.REGISTRY
    superseded_by: dict[str, Any] | None = None
    data_time: datetime | None = None  # offline data: when it was synced

    def to_json(self) -> StatusJSON:
        zh, en = STATE_LABELS[self.state]
        by = self.superseded_by
        out: StatusJSON = {
            "state": self.state.value, "label": {"zh": zh, "en": en}, "reason": self.reason, "since": _iso(self.since),
            "source": self.source.value,
            "superseded_by": {"registration_no": by["registration_no"], "version": by["version"]} if by else None,
        }
        if self.data_time is not None:
            out["data_time"] = _iso(self.data_time)
        return out


@dataclass(frozen=True)
class Verdict:
    ok: bool
    zh: str
    en: str

    def to_json(self) -> VerdictJSON:
        return {"ok": self.ok, "zh": self.zh, "en": self.en}


def decide(signature: SignatureResult, state: State, mismatches: tuple[str, ...] = ()) -> Verdict:
    """ok only for a valid signature on a valid certificate, or a registered paper certificate."""
    if signature in _SIGNATURE_VERDICTS:
        zh, en = _SIGNATURE_VERDICTS[signature]
        return Verdict(False, zh, en)
    if mismatches and state in (State.VALID, State.PAPER_LEGACY):
        return Verdict(False, *MISMATCH_VERDICT)
    if state is State.VALID and signature is SignatureResult.NOT_APPLICABLE:
        return Verdict(False, "登记有效，但无法核验电子签名，请核对原件", "Registered, but no signature to check; check the original")
    zh, en = _STATE_VERDICTS[state]
    ok = state is State.PAPER_LEGACY or (state is State.VALID and signature is SignatureResult.VALID)
    return Verdict(ok, zh, en)


@dataclass(frozen=True)
class Answer:
    signature: Signature
    status: Status
    checked_at: datetime
    certificate: dict[str, Any] | None = None
    mismatches: tuple[str, ...] = field(default=())

    @property
    def verdict(self) -> Verdict:
        return decide(self.signature.result, self.status.state, self.mismatches)

    @classmethod
    def from_json(cls, data: object) -> Answer:
        """An answer read back from its JSON, strictly: AnswerError names the first field that does not parse.

        Fields this version does not know are left out. The verdict is decided again from the signature,
        the state and the mismatches; an answer whose stated `ok` disagrees with that is refused.
        """
        body = _object(data, "answer")
        signature = _object(body.get("signature"), "signature")
        status = _object(body.get("status"), "status")
        verdict = _object(body.get("verdict"), "verdict")
        issuer = _optional_object(signature.get("issuer"), "signature.issuer")
        superseded_by = _optional_object(status.get("superseded_by"), "status.superseded_by")
        if superseded_by is not None:
            _text(superseded_by.get("registration_no"), "status.superseded_by.registration_no")
            if type(superseded_by.get("version")) is not int:
                raise AnswerError("status.superseded_by.version is not a whole number")
        mismatches = body.get("mismatches", [])
        if not isinstance(mismatches, list) or not all(isinstance(m, str) for m in mismatches):
            raise AnswerError("mismatches is not a list of field names")
        answer = cls(
            signature=Signature(
                _member(SignatureResult, signature.get("result"), "signature.result"),
                kid=_optional_text(signature.get("kid"), "signature.kid"),
                alg=_optional_text(signature.get("alg"), "signature.alg"),
                issuer=None if issuer is None else IssuerRef(_text(issuer.get("code"), "signature.issuer.code"),
                                                             _text(issuer.get("name"), "signature.issuer.name"))),
            status=Status(
                _member(State, status.get("state"), "status.state"),
                reason=_text(status.get("reason", ""), "status.reason"),
                since=_optional_time(status.get("since"), "status.since"),
                source=_member(Source, status.get("source", Source.REGISTRY.value), "status.source"),
                superseded_by=superseded_by,
                data_time=_optional_time(status.get("data_time"), "status.data_time")),
            checked_at=_time(body.get("checked_at"), "checked_at"),
            certificate=_optional_object(body.get("certificate"), "certificate"),
            mismatches=tuple(mismatches),
        )
        if verdict.get("ok") is not answer.verdict.ok:
            raise AnswerError(f"verdict.ok is {verdict.get('ok')!r}, but signature {answer.signature.result.value} "
                              f"and state {answer.status.state.value} give {answer.verdict.ok}")
        return answer

    def to_json(self) -> AnswerJSON:
        out: AnswerJSON = {
            "verdict": self.verdict.to_json(),
            "signature": self.signature.to_json(),
            "status": self.status.to_json(),
            "certificate": self.certificate,
            "checked_at": _china_time(self.checked_at),
        }
        if self.mismatches:
            out["mismatches"] = list(self.mismatches)
        return out


CHINA_TIME = timezone(timedelta(hours=8))


def _china_time(moment: datetime) -> str:
    """Times in answers read in China time, the inspector's and the issuer's own."""
    return moment.astimezone(CHINA_TIME).isoformat(timespec="seconds")


def _iso(moment: datetime | None) -> str | None:
    return _china_time(moment) if moment else None


_E = TypeVar("_E", bound=StrEnum)


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AnswerError(f"{where} is not an object")
    return value


def _optional_object(value: object, where: str) -> dict[str, Any] | None:
    return None if value is None else _object(value, where)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise AnswerError(f"{where} is not text")
    return value


def _optional_text(value: object, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _member(kind: type[_E], value: object, where: str) -> _E:
    text = _text(value, where)
    try:
        return kind(text)
    except ValueError:
        raise AnswerError(f"{where} {value!r} is not one of {', '.join(m.value for m in kind)}") from None


def _time(value: object, where: str) -> datetime:
    text = _text(value, where)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise AnswerError(f"{where} {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise AnswerError(f"{where} {value!r} has no UTC offset")
    return moment


def _optional_time(value: object, where: str) -> datetime | None:
    return None if value is None else _time(value, where)
