"""The certificate record as issuing systems hand it to us, validated field by field.

The dataclasses below are the one description of a record: pydantic validates a record against them
(every bad field named, Chinese first), writes a record back as JSON, and generates its JSON Schema
(docs/record.schema.json, written by `python -m keys.schemas`), so the published format is the accepted
one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    PlainValidator,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic.json_schema import DEFAULT_REF_TEMPLATE, GenerateJsonSchema, JsonSchemaValue
from pydantic_core import ErrorDetails, PydanticCustomError

from .errors import IdentifierError, RecordError
from .identifiers import CREDIT_ALPHABET, LICENCE_ROOT, LicenceId, validate_credit_code

# Electronic certificates became mandatory on this day; paper ones issued before it stay valid.
PAPER_CUTOFF = date(2024, 7, 30)


class Category(StrEnum):
    TOWER_CRANE = "tower_crane"
    CONSTRUCTION_HOIST = "construction_hoist"
    MATERIAL_HOIST = "material_hoist"
    GANTRY_CRANE = "gantry_crane"

    @property
    def zh(self) -> str:
        return _CATEGORY_ZH[self]

    @property
    def code(self) -> int:
        """The small integer the signed payload carries."""
        return CATEGORY_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> Category:
        found = _CATEGORY_BY_CODE.get(code) if isinstance(code, int) and not isinstance(code, bool) else None
        if found is None:
            raise ValueError(f"unknown equipment category code {code!r}")
        return found


# Signed codes carry these numbers for as long as they are in use: a number, once given, means its
# category for good. A new category takes the next unused number; none is renumbered or reused.
# docs/test-vectors/categories.json publishes the table and tests/keys/test_vectors.py pins it.
CATEGORY_CODES: Mapping[Category, int] = MappingProxyType({
    Category.TOWER_CRANE: 1,
    Category.CONSTRUCTION_HOIST: 2,
    Category.MATERIAL_HOIST: 3,
    Category.GANTRY_CRANE: 4,
})
_CATEGORY_BY_CODE: Mapping[int, Category] = MappingProxyType({code: c for c, code in CATEGORY_CODES.items()})


_CATEGORY_ZH = {
    Category.TOWER_CRANE: "塔式起重机",
    Category.CONSTRUCTION_HOIST: "施工升降机",
    Category.MATERIAL_HOIST: "物料提升机",
    Category.GANTRY_CRANE: "门式起重机",
}


# --- the record's shape: one set of types for validation, JSON and the published JSON Schema -------------
#
# Number formats are set by each province and none is public: a number is text without spaces.
PRINTABLE = r"^[^\x00-\x1f]*$"
NUMBER = r"^[^\s\x00-\x1f]*$"
DIVISION_CODE = r"^[1-8][0-9]{5}$"
PHONE = r"^([0-9+\-() ]{5,20})?$"
CREDIT_CODE = f"^[{CREDIT_ALPHABET}]{{18}}$"

# What a pattern asks for, in words; the pattern itself is in the schema.
_PATTERN_WORDS = {
    PRINTABLE: ("不得含控制字符", "must not contain control characters"),
    NUMBER: ("不得含空格或控制字符", "must not contain spaces or control characters"),
    DIVISION_CODE: ("须为 6 位行政区划代码", "must be a 6-digit division code"),
    PHONE: ("须为 5-20 位的电话号码（数字、空格、+-()）", "must be a phone number of 5-20 digits, spaces and +-()"),
}


class _OrNull:
    """An optional text's schema: the text's own, or null (read as empty)."""

    def __get_pydantic_json_schema__(self, core: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"anyOf": [handler(core), {"type": "null"}]}


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _words(zh: str, en: str) -> str:
    return f"{zh} / {en}"


def _invalid(zh: str, en: str) -> PydanticCustomError:
    """A refusal worded here; the template is a bare placeholder, so braces in the words stay as they are."""
    return PydanticCustomError("record_field", "{why}", {"why": _words(zh, en)})


def _iso_date(value: Any) -> date:
    if value is None or value == "":
        raise _invalid(*_REQUIRED)
    try:
        if isinstance(value, str) and len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise _invalid("须为日期 YYYY-MM-DD", "must be a date YYYY-MM-DD")


def _optional_iso_date(value: Any) -> date | None:
    return None if value is None or value == "" else _iso_date(value)


# Context of a record read back from the store: its identifiers' check characters were verified when it
# was registered, and verifying them again costs most of a read (bench/records.py).
_STORED: dict[str, bool] = {"stored": True}


def _iso_or_none(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _credit_code(value: Any, info: ValidationInfo) -> str | None:
    if value is None or value == "":
        return None
    if info.context is _STORED:
        return str(value)
    try:
        return validate_credit_code(value)
    except IdentifierError as exc:
        raise _invalid("统一社会信用代码有误", str(exc)) from None


def format_characters(text: str) -> list[str]:
    """The invisible format characters (Unicode category Cf: zero-width, bidi controls) in a text, as U+XXXX."""
    if text.isprintable():  # no Cf character is printable: most texts are done here, in C
        return []
    return [f"U+{ord(c):04X}" for c in text if unicodedata.category(c) == "Cf"]


def _visible(value: str, info: ValidationInfo) -> str:
    """No invisible format characters: `2017-\u202e5989` reads as 2017-9895, and a number with U+200D looks
    like the real one. Records already stored are read as they are (pages show such characters visibly)."""
    if info.context is not _STORED:
        found = format_characters(value)
        if found:
            listed = ", ".join(dict.fromkeys(found))
            raise _invalid(f"不得含不可见的格式字符（零宽字符、双向控制符等）：{listed}",
                           f"must not contain invisible format characters (zero-width, bidi controls): {listed}")
    return value


_DATE_SCHEMA = {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
Visible = AfterValidator(_visible)

Text = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=200, pattern=PRINTABLE), Visible]
ShortText = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=60, pattern=PRINTABLE), Visible]
Number = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=40, pattern=NUMBER), Visible]
OptionalText = Annotated[str, Strict(), StringConstraints(max_length=200, pattern=PRINTABLE),
                         BeforeValidator(_blank), _OrNull(), Visible]
OptionalShortText = Annotated[str, Strict(), StringConstraints(max_length=60, pattern=PRINTABLE),
                              BeforeValidator(_blank), _OrNull(), Visible]
IsoDate = Annotated[date, PlainValidator(_iso_date), PlainSerializer(date.isoformat), WithJsonSchema(_DATE_SCHEMA)]
OptionalIsoDate = Annotated[date | None, PlainValidator(_optional_iso_date), PlainSerializer(_iso_or_none),
                            WithJsonSchema({"anyOf": [_DATE_SCHEMA, {"enum": ["", None]}]})]
CreditCode = Annotated[str | None, PlainValidator(_credit_code), WithJsonSchema({
    "anyOf": [{"type": "string", "pattern": CREDIT_CODE}, {"enum": ["", None]}],
    "description": "统一社会信用代码 (GB 32100), its check character verified / unified social credit code"})]


def _about(zh: str, en: str) -> Any:
    return Field(description=f"{zh} / {en}")


@dataclass(frozen=True, kw_only=True)
class Issuer:
    code: Annotated[str, Strict(), StringConstraints(pattern=DIVISION_CODE), _about("行政区划代码", "division code")]
    name: Annotated[Text, _about("发证机关", "issuing authority")]
    credit_code: CreditCode = None


@dataclass(frozen=True, kw_only=True)
class Party:
    name: Annotated[Text, _about("单位名称", "company name")]
    credit_code: CreditCode = None


@dataclass(frozen=True, kw_only=True)
class Equipment:
    category: Annotated[Category, Field(description="设备类别 / category: " + ", ".join(
        f"{c.value} {c.zh}" for c in Category))]
    model: Annotated[ShortText, _about("规格型号", "model")]
    record_no: Annotated[Number, _about("产权备案编号", "property record number, on the crane's plate")]
    factory_serial: Annotated[ShortText, _about("出厂编号", "factory serial number")]
    manufacturer: Annotated[OptionalText, _about("制造单位", "manufacturer")] = ""
    manufactured_on: Annotated[OptionalIsoDate, _about("出厂日期", "date of manufacture")] = None


@dataclass(frozen=True, kw_only=True)
class Project:
    name: Annotated[Text, _about("工程名称", "project")]
    address: Annotated[OptionalText, _about("工程地址", "address")] = ""
    position: Annotated[OptionalShortText, _about("设备安装位置", "where on the site")] = ""


@dataclass(frozen=True, kw_only=True)
class Inspection:
    agency: Annotated[OptionalText, _about("检验检测机构", "inspection agency")] = ""
    report_no: Annotated[OptionalText, _about("检验报告编号", "report number")] = ""
    date: Annotated[OptionalIsoDate, _about("检验日期", "inspection date")] = None


@dataclass(frozen=True, kw_only=True)
class Supervisor:
    """The supervising firm; `engineer` and `phone` are personal data and are masked in public answers."""

    name: Annotated[OptionalText, _about("监理单位", "supervising firm")] = ""
    engineer: Annotated[str, Strict(), StringConstraints(max_length=40, pattern=PRINTABLE), BeforeValidator(_blank),
                        _OrNull(), Visible, _about("监理工程师（公开时遮蔽）", "supervising engineer (masked when shown)")] = ""
    phone: Annotated[str, Strict(), StringConstraints(pattern=PHONE), BeforeValidator(_blank), _OrNull(),
                     _about("联系电话（公开时遮蔽）", "phone (masked when shown)")] = ""


def _paper_before_cutoff(issued_on: date, info: ValidationInfo) -> date:
    if info.data.get("paper") and issued_on >= PAPER_CUTOFF:
        raise _invalid(f"{PAPER_CUTOFF} 及以后签发的均为电子证书，没有纸质证书",
                       f"no paper certificate was issued on or after {PAPER_CUTOFF}")
    return issued_on


def _licence_id(value: str | None, info: ValidationInfo) -> str | None:
    """Required for an electronic certificate, and it must name this record's version and issuer."""
    if not value:
        if not info.data.get("paper", False):
            raise _invalid("电子证书须填写电子证照标识", "is required for an electronic certificate")
        return None
    if info.context is _STORED:
        return value
    try:
        parsed = LicenceId.parse(value)
    except IdentifierError as exc:
        raise _invalid("电子证照标识有误", str(exc)) from None
    version = info.data.get("version")
    credit_code = getattr(info.data.get("issuer"), "credit_code", None)
    if version is not None and parsed.version != version:
        raise _invalid(f"其版本号 {parsed.version:03d} 与记录的版本 {version} 不符",
                       f"its version {parsed.version:03d} differs from the record's {version}")
    if credit_code and parsed.issuer_credit_code != credit_code:
        raise _invalid("其发证机关部分与 issuer.credit_code 不符", "its issuer part differs from issuer.credit_code")
    return value


@dataclass(frozen=True, kw_only=True)
class Record:
    """A certificate record (建筑起重机械使用登记证书); the signed QR payload carries a part of it."""

    registration_no: Annotated[Number, _about("使用登记编号", "use registration number")]
    version: Annotated[int, Strict(), Field(ge=1, le=999, description="版本 / version; a correction is the next")] = 1
    issuer: Annotated[Issuer, _about("发证机关", "issuing authority")]
    # before issued_on and licence_id: both are checked against it
    paper: Annotated[bool, Strict(), _about(f"纸质证书（{PAPER_CUTOFF} 之前签发）",
                                            f"a paper certificate, issued before {PAPER_CUTOFF}")] = False
    issued_on: Annotated[IsoDate, AfterValidator(_paper_before_cutoff), _about("发证日期", "date of issue")]
    equipment: Annotated[Equipment, _about("设备", "the crane")]
    user: Annotated[Party, _about("使用单位", "user, usually the general contractor")]
    project: Annotated[Project, _about("工程", "the site")]
    licence_id: Annotated[str | None, Strict(), AfterValidator(_licence_id), Field(
        validate_default=True, description=f"电子证照标识 / e-licence identifier (GB/T 36904, {LICENCE_ROOT}....), "
                                           "required unless paper; its version and issuer match the record's")] = None
    owner: Annotated[Party | None, _about("产权单位", "owner")] = None
    installer: Annotated[Party | None, _about("安装单位", "installer")] = None
    inspection: Annotated[Inspection | None, _about("检验", "inspection")] = None
    supervisor: Annotated[Supervisor | None, _about("监理", "supervision")] = None

    @classmethod
    def from_json(cls, data: Any) -> Record:
        """A record as an issuing system sends it; RecordError names every bad field."""
        if not isinstance(data, dict):
            raise RecordError({"record": _words("须为 JSON 对象", "must be a JSON object")})
        try:
            return _ADAPTER.validate_python(data)
        except ValidationError as exc:
            raise RecordError(_problems(exc)) from None

    @classmethod
    def from_stored(cls, text: str | bytes) -> Record:
        """A record the store kept as JSON (Record.to_json, validated in full when it was registered)."""
        try:
            return _ADAPTER.validate_json(text, context=_STORED)
        except ValidationError as exc:
            raise RecordError(_problems(exc)) from None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _ADAPTER.dump_python(self, mode="json")
        return {k: v for k, v in out.items() if v is not None}


_ADAPTER: TypeAdapter[Record] = TypeAdapter(Record)

_REQUIRED = ("必填", "is required")


def _problems(error: ValidationError) -> dict[str, str]:
    """Field path -> why, the first reason for each field, Chinese first."""
    problems: dict[str, str] = {}
    for found in error.errors(include_url=False):
        field = ".".join(str(part) for part in found["loc"]) or "record"
        problems.setdefault(field, _why(found))
    return problems


def _why(found: ErrorDetails) -> str:
    kind, given, ctx = found["type"], found.get("input"), found.get("ctx") or {}
    if kind == "record_field":
        return str(ctx["why"])
    if kind == "missing" or given is None or given == "":
        return _words(*_REQUIRED)
    if kind == "string_type":
        return _words("须为文本", "must be text")
    if kind == "string_too_long":
        return _words(f"至多 {ctx['max_length']} 个字符", f"must be at most {ctx['max_length']} characters")
    if kind == "string_pattern_mismatch":
        return _words(*_PATTERN_WORDS[ctx["pattern"]])
    if kind == "bool_type":
        return _words("须为 true 或 false", "must be true or false")
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return _words("须为整数", "must be a whole number")
    if kind == "greater_than_equal":
        return _words(f"须不小于 {ctx['ge']}", f"must be at least {ctx['ge']}")
    if kind == "less_than_equal":
        return _words(f"须不大于 {ctx['le']}", f"must be at most {ctx['le']}")
    if kind == "enum":
        return f"须为以下之一 / must be one of: {ctx['expected']}"
    if kind in ("dataclass_type", "dataclass_exact_type", "dict_type"):
        return _words("须为 JSON 对象", "must be a JSON object")
    return _words("格式有误", found["msg"])


class _SchemaWithoutFieldTitles(GenerateJsonSchema):
    """Field names are their own titles: each field carries a Chinese and English description instead."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema(ref_template: str = DEFAULT_REF_TEMPLATE) -> dict[str, Any]:
    """The record's JSON Schema (2020-12), from the types above; `ref_template` places the definitions."""
    schema = _ADAPTER.json_schema(ref_template=ref_template, schema_generator=_SchemaWithoutFieldTitles)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
            "title": "建筑起重机械使用登记证书记录 / Crane use-registration certificate record"}
