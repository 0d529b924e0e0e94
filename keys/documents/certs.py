"""X.509 certificates with SM2 keys, read leniently, and chains to the configured trusted seal roots.

Seal certificates come from many CAs and a strict parser rejects some of them (GBK names in UTF8String,
odd times, INTEGERs without pad). Only what verification needs is read: names, validity, the SM2 point,
and the CA's signature over the TBSCertificate bytes as found.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from . import der, gm, sm2_id
from .errors import DocumentError

_NAME_LABELS = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.5": "serialNumber", "1.2.840.113549.1.9.1": "emailAddress",
}
MAX_CHAIN = 6


@dataclass(frozen=True)
class Certificate:
    der: bytes
    tbs: bytes
    serial: bytes                   # the INTEGER's content octets, as issuerAndSerialNumber names it
    subject: str
    issuer: str
    subject_cn: str
    subject_name: bytes
    issuer_name: bytes
    not_before: datetime
    not_after: datetime
    point: bytes | None
    signature_alg: str
    signature: bytes
    quirks: tuple[str, ...]
    ca: bool = False                # basicConstraints cA, and keyCertSign if keyUsage is there

    @classmethod
    def parse(cls, data: bytes) -> Certificate:
        quirks: list[str] = []
        top = der.parse(data).expect(der.SEQUENCE, "certificate").items("certificate", 3)
        tbs = top[0].expect(der.SEQUENCE, "TBSCertificate")
        fields = tbs.items("TBSCertificate", 6)
        if fields[0].tag == 0xA0:  # explicit version
            fields = fields[1:]
        if len(fields) < 6:
            raise DocumentError("证书格式不正确。", "Malformed certificate.")
        validity = fields[3].expect(der.SEQUENCE, "validity").items("validity", 2)
        subject, cn = _name(fields[4], quirks)
        issuer, _ = _name(fields[2], quirks)
        alg = top[1].expect(der.SEQUENCE, "signature algorithm").items("signature algorithm", 1)[0].oid()
        try:
            ca = _is_ca(fields[6:])
        except DocumentError:
            ca = False
            quirks.append("certificate extensions unreadable: not taken as a CA")
        return cls(
            der=bytes(data), tbs=tbs.raw, serial=fields[0].expect(der.INTEGER, "serial").value, subject=subject,
            issuer=issuer, subject_cn=cn or subject, subject_name=fields[4].raw, issuer_name=fields[2].raw,
            not_before=validity[0].time(quirks), not_after=validity[1].time(quirks),
            point=_point(fields[5]), signature_alg=alg, signature=top[2].bits(), quirks=tuple(dict.fromkeys(quirks)),
            ca=ca,
        )

    def valid_at(self, moment: datetime) -> bool:
        return self.not_before <= moment <= self.not_after

    def verifies(self, signature: bytes, data: bytes, quirks: list[str]) -> bool:
        if gm.verify(self.point, signature, data, quirks):
            return True
        point = self.point
        if point is None:
            return False
        for raw, noted in gm.signature_forms(signature):
            if sm2_id.verify(point, raw, data, b""):
                quirks.extend([*noted, "signed with an empty SM2 user ID (OpenSSL 3's default), not 1234567812345678"])
                return True
        return False

    def issued_by(self, issuer: Certificate) -> bool:
        """The issuer's SM2 signature over this certificate checks; a matching name alone counts for nothing."""
        if self.signature_alg not in gm.SM2_SIGNATURE_ALGS:
            return False
        return issuer.verifies(self.signature, self.tbs, [])


BASIC_CONSTRAINTS, KEY_USAGE = "2.5.29.19", "2.5.29.15"


def _is_ca(optional: list[der.Node]) -> bool:
    """May this certificate issue others: basicConstraints cA true, and keyCertSign when keyUsage is set."""
    extensions = next((n for n in optional if n.tag == 0xA3), None)
    if extensions is None:
        return False
    found = {}
    for extension in extensions.items("extensions", 1)[0].children():
        kids = extension.items("extension", 2)
        found[kids[0].oid()] = kids[-1].octets()
    basic = found.get(BASIC_CONSTRAINTS)
    if basic is None:
        return False
    flags = der.parse(basic).children()
    if not (flags and flags[0].tag == 0x01 and flags[0].value not in (b"", b"\x00")):
        return False
    usage = found.get(KEY_USAGE)
    if usage is None:
        return True
    bits = der.parse(usage).expect(der.BIT_STRING, "keyUsage").value
    return len(bits) > 1 and bool(bits[1] & 0x04)


def _name(node: der.Node, quirks: list[str]) -> tuple[str, str]:
    parts, cn = [], ""
    for rdn in node.expect(der.SEQUENCE, "name").children():
        for atv in rdn.children():
            kids = atv.items("name attribute", 2)
            label = _NAME_LABELS.get(kids[0].oid(), kids[0].oid())
            value = kids[1].text(quirks)
            parts.append(f"{label}={value}")
            if label == "CN":
                cn = value
    return ", ".join(reversed(parts)), cn


def _point(spki: der.Node) -> bytes | None:
    """The uncompressed EC point; None for a key that is not an EC point (RSA, say): it verifies nothing."""
    kids = spki.expect(der.SEQUENCE, "public key").items("public key", 2)
    point = kids[1].bits()
    return point if len(point) == 65 and point[0] == 4 else None


def read_certificate(data: bytes) -> Certificate | None:
    try:
        return Certificate.parse(data)
    except DocumentError:
        return None


_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


def load_pem_certificates(pem: bytes) -> list[Certificate]:
    """Every certificate in a PEM bundle (the CRANE_SEAL_ROOTS file); an unreadable one is an error."""
    found = []
    for body in _PEM.findall(pem):
        try:
            found.append(Certificate.parse(base64.b64decode(b"".join(body.split()), validate=True)))
        except (ValueError, DocumentError):
            raise DocumentError("印章根证书文件中有无法读取的证书。",
                                "A certificate in the seal roots file cannot be read.") from None
    if not found:
        raise DocumentError("印章根证书文件中没有证书。", "The seal roots file holds no certificate.")
    return found


@dataclass(frozen=True)
class ChainResult:
    trusted: bool
    path: tuple[str, ...]           # subjects from the certificate up to the root that was reached
    note: str
    # The certificates themselves, in path order: two of a chain may share a subject, so validity is
    # judged on these, never looked up again by subject.
    certificates: tuple[Certificate, ...] = field(default=(), repr=False, compare=False)


def chain_to_roots(cert: Certificate, roots: Sequence[Certificate], others: Iterable[Certificate],
                   at: datetime) -> ChainResult:
    """Trusted only when each link's SM2 signature verifies up to one of `roots` (by signature, not name),
    and every certificate of the chain was valid at `at`: the signing time, or now when the signature
    states none (a chain is never trusted outside its validity for want of a time)."""
    result = _chain(cert, roots, tuple(others))
    if result.trusted:
        expired = next((c for c in result.certificates if not c.valid_at(at)), None)
        if expired is not None:
            return ChainResult(False, result.path, f"{expired.subject} was not valid at the signing time",
                               result.certificates)
    return result


def _chain(cert: Certificate, roots: Sequence[Certificate], others: Iterable[Certificate]) -> ChainResult:
    intermediates = [c for c in others if c.der != cert.der]
    current, chain = cert, [cert]

    def result(trusted: bool, note: str) -> ChainResult:
        return ChainResult(trusted, tuple(c.subject for c in chain), note, tuple(chain))

    for _ in range(MAX_CHAIN):
        if any(current.der == root.der for root in roots):
            return result(True, f"chains to trusted root {current.subject}")
        named = [r for r in roots if r.subject_name == current.issuer_name or r.subject == current.issuer]
        for root in named:
            if current.issued_by(root):
                chain.append(root)
                return result(True, f"chains to trusted root {root.subject}")
        if named:
            return result(False, f"issuer name matches trusted root {named[0].subject}, "
                                 "but its signature does not verify with that root's key")
        # Only a CA certificate may stand between the signer and a root: a signer's own certificate,
        # issued by a trusted root, must not vouch for another it signed.
        step = next((c for c in intermediates
                     if c.ca and (c.subject_name == current.issuer_name or c.subject == current.issuer)
                     and current.issued_by(c)), None)
        if step is None:
            break
        intermediates.remove(step)
        current = step
        chain.append(current)
    return result(False, f"signed by {cert.subject}, not a trusted root here")
