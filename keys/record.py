"""The certificate record as issuing systems hand it to us, validated field by field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from .errors import IdentifierError, RecordError
from .identifiers import LicenceId, validate_credit_code

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


@dataclass(frozen=True)
class RecordRules:
    """Number formats are set by each province and none is public: the patterns are configuration."""

    registration_no: str = r"[^\s]{1,40}"
    record_no: str = r"[^\s]{1,40}"
    issuer_code: str = r"[1-8][0-9]{5}"


@dataclass(frozen=True)
class Issuer:
    code: str
    name: str
    credit_code: str | None = None


@dataclass(frozen=True)
class Party:
    name: str
    credit_code: str | None = None


@dataclass(frozen=True)
class Equipment:
    category: Category
    model: str
    record_no: str
    factory_serial: str
    manufacturer: str = ""
    manufactured_on: date | None = None


@dataclass(frozen=True)
class Project:
    name: str
    address: str = ""
    position: str = ""


@dataclass(frozen=True)
class Inspection:
    agency: str = ""
    report_no: str = ""
    date: date | None = None


@dataclass(frozen=True)
class Supervisor:
    """The supervising firm; `engineer` and `phone` are personal data and are masked in public answers."""

    name: str = ""
    engineer: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Record:
    registration_no: str
    version: int
    issuer: Issuer
    issued_on: date
    equipment: Equipment
    user: Party
    project: Project
    licence_id: str | None = None
    paper: bool = False
    owner: Party | None = None
    installer: Party | None = None
    inspection: Inspection | None = None
    supervisor: Supervisor | None = None

    @classmethod
    def from_json(cls, data: Any, rules: RecordRules = RecordRules()) -> Record:
        return _Reader(rules).record(data)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in _jsonable(asdict(self)).items() if v is not None}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    return value


class _Reader:
    """Reads a record and collects every problem, so one answer names every bad field."""

    def __init__(self, rules: RecordRules):
        self.rules = rules
        self.problems: dict[str, str] = {}

    def record(self, data: Any) -> Record:
        if not isinstance(data, dict):
            raise RecordError({"record": "must be a JSON object"})
        paper = data.get("paper", False)
        if not isinstance(paper, bool):
            self.problems["paper"] = "must be true or false"
            paper = False
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= 999:
            self.problems["version"] = "must be a whole number 1-999"
            version = 1
        issuer = self.issuer(data.get("issuer"))
        record = Record(
            registration_no=self.text(data, "registration_no", pattern=self.rules.registration_no),
            version=version,
            issuer=issuer,
            issued_on=self.date(data, "issued_on", required=True),
            equipment=self.equipment(data.get("equipment")),
            user=self.party(data, "user", required=True),
            project=self.project(data.get("project")),
            licence_id=self.licence_id(data.get("licence_id"), issuer, version, paper),
            paper=paper,
            owner=self.party(data, "owner"),
            installer=self.party(data, "installer"),
            inspection=self.inspection(data.get("inspection")),
            supervisor=self.supervisor(data.get("supervisor")),
        )
        if paper and record.issued_on and record.issued_on >= PAPER_CUTOFF:
            self.problems["issued_on"] = f"no paper certificate was issued on or after {PAPER_CUTOFF}"
        if self.problems:
            raise RecordError(self.problems)
        return record

    def text(self, obj: Any, name: str, prefix: str = "", required: bool = True, pattern: str | None = None,
             max_len: int = 200) -> str:
        path = prefix + name
        value = obj.get(name) if isinstance(obj, dict) else None
        if value is None or value == "":
            if required:
                self.problems[path] = "is required"
            return ""
        if not isinstance(value, str):
            self.problems[path] = "must be text"
            return ""
        if len(value) > max_len or any(ord(c) < 32 for c in value):
            self.problems[path] = f"must be at most {max_len} printable characters"
        elif pattern and not re.fullmatch(pattern, value):
            self.problems[path] = f"does not match the configured pattern {pattern}"
        return value

    def date(self, obj: Any, name: str, prefix: str = "", required: bool = False) -> date | None:
        path = prefix + name
        value = obj.get(name) if isinstance(obj, dict) else None
        if value in (None, ""):
            if required:
                self.problems[path] = "is required"
            return None
        try:
            return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else _bad_date()
        except ValueError:
            self.problems[path] = "must be a date YYYY-MM-DD"
            return None

    def credit_code(self, obj: dict, path: str, required: bool = False) -> str | None:
        value = obj.get("credit_code")
        if value in (None, ""):
            if required:
                self.problems[path] = "is required"
            return None
        try:
            return validate_credit_code(value)
        except IdentifierError as exc:
            self.problems[path] = str(exc)
            return None

    def section(self, value: Any, name: str, required: bool) -> dict | None:
        if value is None:
            if required:
                self.problems[name] = "is required"
            return None
        if not isinstance(value, dict):
            self.problems[name] = "must be a JSON object"
            return None
        return value

    def issuer(self, value: Any) -> Issuer:
        obj = self.section(value, "issuer", required=True) or {}
        return Issuer(
            code=self.text(obj, "code", "issuer.", pattern=self.rules.issuer_code),
            name=self.text(obj, "name", "issuer."),
            credit_code=self.credit_code(obj, "issuer.credit_code"),
        )

    def party(self, data: dict, name: str, required: bool = False) -> Party | None:
        obj = self.section(data.get(name), name, required)
        if obj is None:
            return Party("") if required else None
        return Party(self.text(obj, "name", name + "."), self.credit_code(obj, name + ".credit_code"))

    def equipment(self, value: Any) -> Equipment:
        obj = self.section(value, "equipment", required=True) or {}
        raw_category = obj.get("category")
        try:
            category = Category(raw_category)
        except ValueError:
            self.problems["equipment.category"] = "must be one of " + ", ".join(c.value for c in Category)
            category = Category.TOWER_CRANE
        return Equipment(
            category=category,
            model=self.text(obj, "model", "equipment.", max_len=60),
            record_no=self.text(obj, "record_no", "equipment.", pattern=self.rules.record_no),
            factory_serial=self.text(obj, "factory_serial", "equipment.", max_len=60),
            manufacturer=self.text(obj, "manufacturer", "equipment.", required=False),
            manufactured_on=self.date(obj, "manufactured_on", "equipment."),
        )

    def project(self, value: Any) -> Project:
        obj = self.section(value, "project", required=True) or {}
        return Project(
            name=self.text(obj, "name", "project."),
            address=self.text(obj, "address", "project.", required=False),
            position=self.text(obj, "position", "project.", required=False, max_len=60),
        )

    def inspection(self, value: Any) -> Inspection | None:
        obj = self.section(value, "inspection", required=False)
        if obj is None:
            return None
        return Inspection(
            agency=self.text(obj, "agency", "inspection.", required=False),
            report_no=self.text(obj, "report_no", "inspection.", required=False),
            date=self.date(obj, "date", "inspection."),
        )

    def supervisor(self, value: Any) -> Supervisor | None:
        obj = self.section(value, "supervisor", required=False)
        if obj is None:
            return None
        return Supervisor(
            name=self.text(obj, "name", "supervisor.", required=False),
            engineer=self.text(obj, "engineer", "supervisor.", required=False, max_len=40),
            phone=self.text(obj, "phone", "supervisor.", required=False, pattern=r"[0-9+\-() ]{5,20}"),
        )

    def licence_id(self, value: Any, issuer: Issuer, version: int, paper: bool) -> str | None:
        if value in (None, ""):
            if not paper:
                self.problems["licence_id"] = "is required for an electronic certificate"
            return None
        if not isinstance(value, str):
            self.problems["licence_id"] = "must be text"
            return None
        try:
            parsed = LicenceId.parse(value)
        except IdentifierError as exc:
            self.problems["licence_id"] = str(exc)
            return None
        if parsed.version != version:
            self.problems["licence_id"] = f"its version {parsed.version:03d} differs from the record's {version}"
        elif issuer.credit_code and parsed.issuer_credit_code != issuer.credit_code:
            self.problems["licence_id"] = "its issuer part differs from issuer.credit_code"
        return value


def _bad_date() -> date:
    raise ValueError
