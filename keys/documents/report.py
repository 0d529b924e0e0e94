"""What the verifier found in one file, typed; `to_json` gives the public JSON shape (docs/documents.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class SignatureType(StrEnum):
    SEAL = "seal"      # 电子签章: a seal image and SES structure
    SIGN = "sign"      # 数字签名: a signature without a seal


class SignatureFormat(StrEnum):
    SES_V4 = "ses-v4"          # GB/T 38540-2020
    SES_V1 = "ses-v1"          # GM/T 0031-2014
    GBT_35275 = "gbt-35275"    # CMS SignedData with SM2
    RAW_SM2 = "raw-sm2"        # a bare SM2 signature over Signature.xml
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CertSummary:
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime

    def to_json(self) -> dict[str, str]:
        return {"subject": self.subject, "issuer": self.issuer,
                "not_before": _iso(self.not_before), "not_after": _iso(self.not_after)}


@dataclass(frozen=True)
class SignatureCheck:
    """One Signature of Signatures.xml. `None` where a check does not apply or could not be made."""

    id: str
    type: SignatureType
    format: SignatureFormat
    path: str                                   # its Signature.xml
    signature_valid: bool | None                # the signer's signature over this Signature.xml
    seal_valid: bool | None                     # the seal maker's signature, and the seal file matching
    references_bad: tuple[str, ...]
    references_explained: tuple[str, ...]       # Signatures.xml changed by a later signature (§18)
    references_checked: int
    signer: CertSummary | None
    signer_valid_at_signing: bool | None
    signed_at: datetime | None
    trusted: bool
    trust_note: str
    seal_name: str | None
    maker: CertSummary | None
    notes: tuple[str, ...]

    @property
    def intact(self) -> bool:
        """Verifies, covers at least one file, and every file it covers is unchanged."""
        return (self.signature_valid is True and self.seal_valid is not False and not self.references_bad
                and self.references_checked > 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "type": self.type.value, "format": self.format.value,
            "signature_valid": self.signature_valid, "seal_valid": self.seal_valid,
            "references_bad": list(self.references_bad),
            "signer": self.signer.to_json() if self.signer else None,
            "trusted": self.trusted, "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ImageResource:
    """A page image of the package, for the caller to look for QR codes in (keys/ decodes no images)."""

    path: str
    media_type: str
    data: bytes
    pages: tuple[int, ...]          # 1-based page numbers that draw it; empty when none was found
    # Whether a signature's references name this file: a code in an image no seal covers was put there by
    # anyone, so the file's seal vouches for nothing in it.
    covered: bool = False

    def __repr__(self) -> str:
        return (f"ImageResource({self.path!r}, {self.media_type}, {len(self.data)} bytes, pages={self.pages}, "
                f"covered={self.covered})")


@dataclass(frozen=True)
class DocumentReport:
    format: str
    signatures: tuple[SignatureCheck, ...]
    unsigned_files: tuple[str, ...]
    images: tuple[ImageResource, ...]
    notes: tuple[str, ...]

    @property
    def intact(self) -> bool:
        """Every signature verifies and every reference matches (a Signatures.xml changed by a later
        signature excepted), whatever the trust in the signers. A file with no signature is not intact."""
        return bool(self.signatures) and all(s.intact for s in self.signatures)

    def to_json(self, file: str) -> dict[str, Any]:
        """The public shape; `codes` is left empty for the caller, who decodes the images, to fill."""
        return {"file": file, "format": self.format, "intact": self.intact,
                "signatures": [s.to_json() for s in self.signatures], "codes": []}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
