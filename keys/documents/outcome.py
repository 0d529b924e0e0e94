"""What checking one SignedValue gives, whatever its format; verify.py turns it into a SignatureCheck."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

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


def loose_time(text: str, quirks: list[str]) -> datetime | None:
    """A signing time written as free text (SES v1's timeInfo, Signature.xml's SignatureDateTime):
    20200723130907.763Z, 2020-01-25T07:31:56.377Z, 2020-07-16 16:04:27 (no zone: China time)."""
    text = text.strip()
    digits = "".join(_DIGITS.findall(text))
    if len(digits) < 14:
        return None
    try:
        moment = datetime.strptime(digits[:14], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    if text.endswith("Z") or "+00" in text:
        return moment.replace(tzinfo=UTC)
    quirks.append(f"signing time {text!r} has no zone, read as China time (UTC+8)")
    return moment.replace(tzinfo=CHINA_TIME)
