"""Personal data never leaves the service unmasked: people's names, phone numbers, ID numbers.

Company names and unified social credit codes are public business registration data and stay.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from keys.record import Record

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
    """Mask phone and ID numbers wherever they appear in free text, however they are written."""
    return _RUN.sub(_mask_groups, text) if _TEN_DIGITS.search(text) else text


# Digit groups (any script's digits, an ID number's final X) joined by at most three separator characters (" - "): spaces
# (ideographic too), dashes of every kind, brackets and invisible characters. Not dots: they join the
# parts of identifiers and decimals, never a phone number as people write one here.
_SEPARATOR = r"[\s\u200b-\u200d\u2060\ufeff\-‐‑‒–—―−﹣－()（）]"
_GROUP = re.compile(r"\d+[XxＸｘ]?")
_RUN = re.compile(rf"(?<!\d)\d+[XxＸｘ]?(?:{_SEPARATOR}{{1,3}}\d+[XxＸｘ]?)*")
# Every number masked here has ten digits or more, at most three characters apart: most text has none.
_TEN_DIGITS = re.compile(r"\d(?:\D{0,3}\d){9}")
_PLAIN_MOBILE = re.compile(r"(?:0086|86)?(1[3-9]\d{9})")
_PLAIN_ID = re.compile(r"\d{17}[\dX]")
_LONGEST = 20  # digits: more than any number masked here, with a country prefix


def _mask_groups(run: re.Match[str]) -> str:
    """Mask every sequence of whole groups in a run that spells a phone or ID number."""
    text = run.group()
    if len(text) < 10:   # every number masked here has ten digits: most runs (dates, codes' parts) are shorter
        return text
    groups = [(m.start(), m.end(), _ascii(m.group())) for m in _GROUP.finditer(text)]
    pieces, done, i = [], 0, 0
    while i < len(groups):
        found = None
        digits = ""
        for j in range(i, len(groups)):
            digits += groups[j][2]
            if len(digits) > _LONGEST:
                break
            masked = _masked_number(digits, len(groups[i][2]))
            if masked is not None:
                found = (j, masked)
        if found is None:
            i += 1
            continue
        j, masked = found
        pieces += [text[done:groups[i][0]], masked]
        done, i = groups[j][1], j + 1
    return "".join(pieces) + text[done:] if pieces else text


def _masked_number(digits: str, first_group: int) -> str | None:
    if m := _PLAIN_MOBILE.fullmatch(digits):
        return digits[:len(digits) - 11] + m.group(1)[:3] + "****" + digits[-4:]
    if _PLAIN_ID.fullmatch(digits):
        return digits[:6] + "********" + digits[-4:]
    if digits.startswith("0") and 10 <= len(digits) <= 12:
        # the area code is the first group, or (written together) 3 digits for 010 and 02x, else 4
        area = first_group if first_group < len(digits) else (3 if digits[1] in "12" else 4)
        if area in (3, 4) and 7 <= len(digits) - area <= 8:
            return digits[:area] + "-****" + digits[-4:]
    return None


def _ascii(group: str) -> str:
    """Full-width and other scripts' digits as ASCII, the check character as X."""
    if group.isascii():
        return group.upper()
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else "X" for c in group)


def mask_record(record: Record) -> dict[str, Any]:
    """The record as JSON fit for a public answer (a new dict each call)."""
    return mask_json(record.to_json())


def mask_json(record: dict[str, Any]) -> dict[str, Any]:
    """A record's JSON (Record.to_json) fit for a public answer, as a new dict."""
    masked: dict[str, Any] = _walk(record, ())
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
