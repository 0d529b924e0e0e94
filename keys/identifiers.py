"""National identifiers: the e-licence identifier (GB/T 36904) and the unified social credit code (GB 32100)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import IdentifierError

LICENCE_ROOT = "1.2.156.3005.2"
# The crane certificate's own 3-digit suffix is not public: the obviously fake 999 stands for it.
CRANE_TYPE_CODE = "11100000000013338W999"

_MOD37_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_RE = re.compile(f"[{CREDIT_ALPHABET}]{{18}}")
SERIAL_RE = re.compile(r"[0-9A-Z]{1,32}")
_VERSION_RE = re.compile(r"[0-9]{3}")


def mod37_36_check(data: str) -> str:
    """ISO/IEC 7064 MOD 37,36 check character over `data` (0-9A-Z)."""
    c = 36
    for ch in data:
        v = _MOD37_ALPHABET.find(ch)
        if v < 0:
            raise IdentifierError(f"character {ch!r} is not allowed (0-9, A-Z)")
        c = (c + v) % 36 or 36
        c = (2 * c) % 37
    return _MOD37_ALPHABET[(37 - c) % 36]


def credit_code_check(first17: str) -> str:
    """GB 32100 check character over the first 17 characters of a credit code."""
    total = 0
    for ch, weight in zip(first17, _CREDIT_WEIGHTS, strict=True):
        v = CREDIT_ALPHABET.find(ch)
        if v < 0:
            raise IdentifierError(f"character {ch!r} is not allowed in a credit code")
        total += v * weight
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(code: str) -> str:
    """Return `code` when it is a well-formed credit code with a correct check character."""
    if not isinstance(code, str) or not _CREDIT_RE.fullmatch(code):
        raise IdentifierError("a credit code is 18 characters of 0-9 and A-Z without I, O, S, V, Z")
    if credit_code_check(code[:17]) != code[17]:
        raise IdentifierError(f"credit code {code} fails its check character")
    return code


def make_credit_code(first17: str) -> str:
    return first17 + credit_code_check(first17)


@dataclass(frozen=True)
class LicenceId:
    """An e-licence identifier: root . type code . issuer credit code . serial . version . check."""

    type_code: str
    issuer_credit_code: str
    serial: str
    version: int

    def __post_init__(self) -> None:
        if not (len(self.type_code) == 21 and self.type_code[18:].isdigit()):
            raise IdentifierError("type code is the ministry's 18-character credit code and 3 digits")
        validate_credit_code(self.type_code[:18])
        validate_credit_code(self.issuer_credit_code)
        if not SERIAL_RE.fullmatch(self.serial):
            raise IdentifierError("serial is 1-32 characters of 0-9 and A-Z")
        if not 0 < self.version < 1000:
            raise IdentifierError("version is 001-999")

    @property
    def check(self) -> str:
        return mod37_36_check(self.type_code + self.issuer_credit_code + self.serial + f"{self.version:03d}")

    def __str__(self) -> str:
        return ".".join((LICENCE_ROOT, self.type_code, self.issuer_credit_code, self.serial,
                         f"{self.version:03d}", self.check))

    @classmethod
    def parse(cls, text: str) -> LicenceId:
        """Parse and verify an identifier; the check character is verified before anything else."""
        if not isinstance(text, str) or not text.startswith(LICENCE_ROOT + "."):
            raise IdentifierError(f"an e-licence identifier starts with {LICENCE_ROOT}.")
        parts = text[len(LICENCE_ROOT) + 1:].split(".")
        if len(parts) != 5:
            raise IdentifierError("an e-licence identifier has type, issuer, serial, version and check parts")
        type_code, issuer, serial, version, check = parts
        if len(check) != 1 or not _VERSION_RE.fullmatch(version):
            raise IdentifierError("version is 3 digits and the check is one character")
        if mod37_36_check(type_code + issuer + serial + version) != check:
            raise IdentifierError(f"e-licence identifier {text} fails its check character")
        return cls(type_code, issuer, serial, int(version))


# An identifier anywhere in a text: bare, or inside a URL of another system.
LICENCE_IN_TEXT = re.compile(re.escape(LICENCE_ROOT) + r"\.[0-9A-Za-z.]{20,120}")
