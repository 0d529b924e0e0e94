"""What checking one SignedValue gives, whatever its format; verify.py turns it into a SignatureCheck."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from ..answer import CHINA_TIME
from .certs import Certificate
from .report import SignatureFormat


@dataclass
class Outcome:
    format: SignatureFormat
    signature_valid: bool | None = None
    seal_valid: bool | None = None
    signer: Certificate | None = None
    maker: Certificate | None = None
    others: tuple[Certificate, ...] = ()        # certificates the signed data carries besides the signer's
    signed_at: datetime | None = None
    seal_name: str | None = None
    seal_period: tuple[datetime, datetime] | None = None
    signer_in_seal: bool | None = None
    notes: list[str] = field(default_factory=list)
    quirks: list[str] = field(default_factory=list)


_DIGITS = re.compile(r"\d+")
# A zone after the time: Z, or an offset of hours and optional minutes (+08:00, +0800, -05, +09:30).
_ZONE = re.compile(r"(?:([Zz])|([+-])([01]\d|2[0-3]):?([0-5]\d)?)$")


def loose_time(text: str, quirks: list[str]) -> datetime | None:
    """A signing time written as free text (SES v1's timeInfo, Signature.xml's SignatureDateTime):
    20200723130907.763Z, 2020-01-25T07:31:56.377+09:00, 2020-07-16 16:04:27 (no zone: China time)."""
    text = text.strip()
    zone = _ZONE.search(text)
    # What looks like an offset is one only after a whole time (14 digits): 2020-07-16-16-04-27 has none.
    if zone is not None and len("".join(_DIGITS.findall(text[:zone.start()]))) < 14:
        zone = None
    digits = "".join(_DIGITS.findall(text if zone is None else text[:zone.start()]))
    if len(digits) < 14:
        return None
    try:
        moment = datetime.strptime(digits[:14], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    if zone is None:
        quirks.append(f"signing time {text!r} has no zone, read as China time (UTC+8)")
        return moment.replace(tzinfo=CHINA_TIME)
    if zone.group(1):
        return moment.replace(tzinfo=UTC)
    offset = timedelta(hours=int(zone.group(3)), minutes=int(zone.group(4) or 0))
    return moment.replace(tzinfo=timezone(offset if zone.group(2) == "+" else -offset))
