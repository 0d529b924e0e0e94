"""Seal roots and seal certificates (X.509, SM2 with SM3), for demo and test seals.

Real seals come from the authority's certified seal system and a certified CA; these exist so the demo
documents verify fully against a demo seal root, and so tests can make seals with keys they control.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..algorithms import Alg, PrivateKey
from . import der, gm
from .certs import BASIC_CONSTRAINTS, KEY_USAGE, Certificate, load_pem_certificates
from .errors import DocumentError

_OIDS = {"C": "2.5.4.6", "O": "2.5.4.10", "OU": "2.5.4.11", "CN": "2.5.4.3"}


@dataclass(frozen=True)
class SealIdentity:
    """A private key and its certificate: a seal root, a seal maker, or a signer."""

    key: PrivateKey
    certificate: Certificate

    def certificate_pem(self) -> bytes:
        return certificate_pem(self.certificate)


def certificate_pem(cert: Certificate) -> bytes:
    body = base64.b64encode(cert.der)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def _name(parts: dict[str, str]) -> bytes:
    rdns = []
    for label, value in parts.items():
        tagged = der.tlv(der.PRINTABLE, value.encode("ascii")) if label == "C" else der.utf8(value)
        rdns.append(der.set_of(der.seq(der.oid(_OIDS[label]), tagged)))
    return der.seq(*rdns)


def _time(moment: datetime) -> bytes:
    return der.utctime(moment) if moment.year < 2050 else der.gtime(moment)


def _certificate(key: PrivateKey, subject: dict[str, str], issuer: SealIdentity | None,
                 not_before: datetime, not_after: datetime, ca: bool) -> Certificate:
    signer_key = issuer.key if issuer else key
    issuer_name = der.parse(issuer.certificate.subject_name).raw if issuer else _name(subject)
    usage = der.bits(b"\x06" if ca else b"\xc0")    # keyCertSign|cRLSign, or digitalSignature|nonRepudiation
    extensions = [der.seq(der.oid(KEY_USAGE), der.tlv(0x01, b"\xff"), der.octets(usage))]
    if ca:
        extensions.insert(0, der.seq(der.oid(BASIC_CONSTRAINTS), der.tlv(0x01, b"\xff"),
                                     der.octets(der.seq(der.tlv(0x01, b"\xff")))))
    algorithm = der.seq(der.oid(gm.SM2_WITH_SM3))
    tbs = der.seq(
        der.explicit(0, der.integer(2)), der.integer(secrets.randbits(63) | 1 << 62), algorithm, issuer_name,
        der.seq(_time(not_before), _time(not_after)), _name(subject), key.public_key().spki,
        der.explicit(3, der.seq(*extensions)),
    )
    return Certificate.parse(der.seq(tbs, algorithm, der.bits(gm.sign(signer_key, tbs))))


def make_seal_root(name: str, now: datetime, years: int = 20) -> SealIdentity:
    """A self-signed SM2 seal root; it also makes (signs) the seals of the certificates it issues."""
    key = PrivateKey.generate(Alg.SM2)
    subject = {"C": "CN", "O": name, "CN": name}
    return SealIdentity(key, _certificate(key, subject, None, now - timedelta(days=1),
                                          now + timedelta(days=365 * years), ca=True))


def make_seal_certificate(root: SealIdentity, name: str, now: datetime, days: int = 5 * 365,
                          organization: str | None = None, ca: bool = False) -> SealIdentity:
    """A new SM2 seal key and its certificate, issued by `root`; `ca` makes an intermediate CA instead."""
    if root.certificate.point is None:
        raise DocumentError("根证书不是 SM2 证书。", "The root certificate is not an SM2 certificate.")
    key = PrivateKey.generate(Alg.SM2)
    subject = {"C": "CN", "O": organization or name, "CN": name}
    return SealIdentity(key, _certificate(key, subject, root, now - timedelta(days=1),
                                          now + timedelta(days=days), ca=ca))


def load_identity(key_pem: bytes, cert_pem: bytes, passphrase: bytes | None = None) -> SealIdentity:
    key = PrivateKey.from_pem(key_pem, passphrase)
    cert = load_pem_certificates(cert_pem)[0]
    if key.alg is not Alg.SM2 or cert.point != gm.point_of_spki(key.public_key().spki):
        raise DocumentError("私钥与证书不匹配（需要 SM2）。", "The private key does not match the certificate (SM2 needed).")
    return SealIdentity(key, cert)
