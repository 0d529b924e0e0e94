"""Personal data never leaves the service unmasked: people's names, phone numbers, ID numbers.

Company names and unified social credit codes are public business registration data and stay.
"""

from __future__ import annotations

import re
from typing import Any

from keys.record import Record

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3}-?)\d{4}(\d{3,4})(?!\d)")

# Fields that hold a person rather than an organisation.
_PERSON_FIELDS = {("supervisor", "engineer")}
_PHONE_FIELDS = {("supervisor", "phone")}


def mask_name(name: str) -> str:
    """张三 -> 张*, 欧阳明华 -> 欧***; a Latin name keeps its initial."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else name


def mask_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def scrub(text: str) -> str:
    """Mask phone and ID numbers wherever they appear in free text."""
    text = _ID_NUMBER.sub(lambda m: m.group(1) + "********" + m.group(2), text)
    text = _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
    return _LANDLINE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


def mask_record(record: Record) -> dict[str, Any]:
    """The record as JSON fit for a public answer (a new dict each call)."""
    masked: dict[str, Any] = _walk(record.to_json(), ())
    return masked


def _walk(value: Any, path: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, path) for v in value]
    if not isinstance(value, str):
        return value
    if path[-2:] in _PERSON_FIELDS:
        return mask_name(value)
    if path[-2:] in _PHONE_FIELDS:
        return mask_phone(value)
    return scrub(value)
