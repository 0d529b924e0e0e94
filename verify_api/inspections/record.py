"""An inspection record as a scanner sends it, what the service stores of it, and the flags it may carry.

The dataclasses are the one description of the record: pydantic validates an upload against them (the bad
field named, Chinese first) and generates the JSON Schema published in docs/api.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, Strict, StringConstraints, TypeAdapter, ValidationError
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import ErrorDetails, PydanticCustomError

from keys.answer import SignatureResult, State

MAX_QR = 4096
MAX_NOTE = 1000
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d{1,6})?([Zz]|[+-]\d\d:\d\d)", re.ASCII)
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class Mode(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class PlateCheck(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    UNCHECKED = "unchecked"


class Flag(StrEnum):
    """What the service finds at receipt. The codes are stable; the words are for people."""

    STATUS_CHANGED = "status_changed"
    ENDED_IN_USE = "ended_in_use"
    SUPERSEDED_IN_USE = "superseded_in_use"
    PLATE_MISMATCH = "plate_mismatch"
    SIGNATURE_INVALID = "signature_invalid"
    TWO_SITES = "two_sites"
    OUTSIDE_REGION = "outside_region"

    @property
    def zh(self) -> str:
        return FLAG_WORDS[self][0]

    @property
    def en(self) -> str:
        return FLAG_WORDS[self][1]


FLAG_WORDS: dict[Flag, tuple[str, str]] = {
    Flag.STATUS_CHANGED: ("现场显示的状态与登记库当前状态不同", "the status shown on site differs from the registry's now"),
    Flag.ENDED_IN_USE: ("拆卸告知后仍在现场使用", "checked on site after a dismantling notice ended the certificate"),
    Flag.SUPERSEDED_IN_USE: ("现场使用已更正作废的版本", "a superseded version of the certificate is in use"),
    Flag.PLATE_MISMATCH: ("设备铭牌与证书不符", "the crane's plate does not match the certificate"),
    Flag.SIGNATURE_INVALID: ("二维码签名无效", "the QR code's signature is not valid"),
    Flag.TWO_SITES: ("同一证书一天内在两处现场被检查", "the same certificate was checked at two sites within a day"),
    Flag.OUTSIDE_REGION: ("检查了本辖区以外的证书", "a certificate of another region was checked"),
}


class InspectionError(ValueError):
    """An uploaded record that cannot be stored; the message names the field, Chinese first."""


def _rfc3339(value: Any) -> datetime:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise PydanticCustomError("rfc3339", "须为带时区的 RFC 3339 时间 / must be an RFC 3339 time with a zone")
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        raise PydanticCustomError("rfc3339", "不是有效的时间 / not a valid time") from None


Text = Annotated[str, Strict()]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]


@dataclass(frozen=True)
class Shown:
    """What the inspector's device showed."""

    state: Annotated[State, Field(description="显示的证书状态 / the status shown")]
    signature: Annotated[SignatureResult, Field(description="显示的签名结果 / the signature result shown")]
    mode: Annotated[Mode, Field(description="联网或离线核验 / checked online or offline")]
    data_age_s: Annotated[Number | None, Field(ge=0, description="离线数据的时长（秒） / age of offline data, s")] = None


@dataclass(frozen=True)
class Plate:
    """The crane's plate compared with the certificate by the inspector."""

    record_no: PlateCheck = PlateCheck.UNCHECKED
    factory_serial: PlateCheck = PlateCheck.UNCHECKED


@dataclass(frozen=True)
class Location:
    lat: Annotated[Number, Field(ge=-90, le=90)]
    lon: Annotated[Number, Field(ge=-180, le=180)]
    accuracy_m: Annotated[Number | None, Field(ge=0, le=1e6)] = None


@dataclass(frozen=True)
class Inspection:
    """One check as the device made it (the photo, when given, is kept apart from the record)."""

    id: Annotated[str, Strict(), StringConstraints(pattern=_UUID, to_lower=True),
                  Field(description="设备生成的 UUID，重传时不变 / a UUID made once on the device, kept on retries")]
    qr: Annotated[str, Strict(), StringConstraints(min_length=1, max_length=MAX_QR),
                  Field(description="二维码内容 / the QR text")]
    checked_at: Annotated[datetime, BeforeValidator(_rfc3339), Field(
        description="设备时间，RFC 3339 / device time, RFC 3339", json_schema_extra={"type": "string"})]
    shown: Shown
    plate: Plate = field(default_factory=Plate)
    location: Location | None = None
    note: Annotated[str, Strict(), StringConstraints(max_length=MAX_NOTE)] = ""
    photo: Annotated[str | None, Strict(), Field(description="JPEG, base64, at most 2 MB / 照片")] = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _ADAPTER.dump_python(self, mode="json", exclude={"photo"})
        out["checked_at"] = self.checked_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return out

    @classmethod
    def from_stored(cls, text: str) -> Inspection:
        return _ADAPTER.validate_json(text)


_ADAPTER: TypeAdapter[Inspection] = TypeAdapter(Inspection)


def parse(data: Any) -> Inspection:
    """An uploaded record, validated; InspectionError names the first bad field."""
    if not isinstance(data, dict):
        raise InspectionError("记录须为 JSON 对象 / a record must be a JSON object")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "record"
        raise InspectionError(f"{where}: {_why(first)}") from None


def record_id(data: Any) -> str | None:
    """The id a refused record gave, if it gave a text one: the answer names it so the client can match."""
    value = data.get("id") if isinstance(data, dict) else None
    return value[:64] if isinstance(value, str) else None


def _why(found: ErrorDetails) -> str:
    kind, ctx = found["type"], found.get("ctx") or {}
    if kind == "rfc3339":
        return found["msg"]
    if kind == "missing":
        return "必填 / is required"
    if kind in ("string_type", "str_type"):
        return "须为文本 / must be text"
    if kind == "string_too_long":
        return f"至多 {ctx['max_length']} 个字符 / must be at most {ctx['max_length']} characters"
    if kind == "string_too_short":
        return "不能为空 / must not be empty"
    if kind == "string_pattern_mismatch":
        return "须为 UUID / must be a UUID"
    if kind in ("float_type", "int_type", "int_from_float"):
        return "须为数字 / must be a number"
    if kind == "finite_number":
        return "须为有限的数字 / must be a finite number"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"超出范围 / out of range ({found['msg']})"
    if kind == "enum":
        return f"须为以下之一 / must be one of: {ctx['expected']}"
    if kind in ("dataclass_type", "dataclass_exact_type", "dict_type", "model_type"):
        return "须为 JSON 对象 / must be a JSON object"
    return f"格式有误 / {found['msg']}"


class _NoTitles(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema(ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    """The uploaded record's JSON Schema, from the types above."""
    schema = _ADAPTER.json_schema(ref_template=ref_template, schema_generator=_NoTitles)
    return {**schema, "title": "检查记录 / Inspection record"}
