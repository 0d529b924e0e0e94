"""SM2/SM3 as seals use them, on top of the project's SM2 scheme in keys.algorithms.

SM2 here is always with SM3 over Z_A||M and the default user ID 1234567812345678 (GB/T 32918, GB/T 35276),
which is what keys.algorithms computes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from tongsuopy.crypto import hashes as gm_hashes

from ..algorithms import Alg, PrivateKey, PublicKey
from ..errors import KeyFileError
from . import der
from .errors import DocumentError

SM2_KEY = "1.2.156.10197.1.301"
SM2_SIGN = "1.2.156.10197.1.301.1"
SM2_WITH_SM3 = "1.2.156.10197.1.501"
SM3 = "1.2.156.10197.1.401"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
SM2_SIGNATURE_ALGS = {SM2_WITH_SM3, SM2_SIGN, SM2_KEY}


def sm3(data: bytes) -> bytes:
    h = gm_hashes.Hash(gm_hashes.SM3())
    h.update(data)
    return bytes(h.finalize())


Digest = Callable[[bytes], bytes]


def _hashlib(name: str) -> Digest:
    return lambda data: hashlib.new(name, data).digest()


_DIGESTS: dict[str, Digest] = {
    "md5": _hashlib("md5"), "1.2.840.113549.2.5": _hashlib("md5"),
    "sha1": _hashlib("sha1"), "sha-1": _hashlib("sha1"), "1.3.14.3.2.26": _hashlib("sha1"),
    "sha256": _hashlib("sha256"), "sha-256": _hashlib("sha256"), "2.16.840.1.101.3.4.2.1": _hashlib("sha256"),
    "sm3": sm3, SM3: sm3, SM3 + ".1": sm3,
}
# Broken digests, still read (GB/T 33190 names MD5 the default and old files use them) but warned of: a file
# can be made to match such a reference by anyone who chose its other version beforehand.
WEAK = frozenset({"md5", "1.2.840.113549.2.5", "sha1", "sha-1", "1.3.14.3.2.26"})
# GM/T 0006 names 401.2 "SM3 with key"; seal software writes it for plain SM3 digests, and other readers
# (ofdrw among them) read it so.
_READ_AS_SM3 = {SM3 + ".2": "CheckMethod 1.2.156.10197.1.401.2 (SM3 with key) read as plain SM3"}


def digest_for(method: str, quirks: list[str]) -> Digest | None:
    """The digest function for a References CheckMethod, or None when it is not one we know."""
    name = method.strip().lower()
    if name in _READ_AS_SM3:
        quirks.append(_READ_AS_SM3[name])
        return sm3
    return _DIGESTS.get(name)


def spki_of_point(point: bytes) -> bytes:
    return der.seq(der.seq(der.oid(EC_PUBLIC_KEY), der.oid(SM2_KEY)), der.bits(point))


def point_of_spki(spki: bytes) -> bytes:
    return der.parse(spki).items("public key", 2)[1].bits()


def public_key(point: bytes) -> PublicKey | None:
    """The SM2 key for an uncompressed point; None when the point is not one on the SM2 curve."""
    try:
        key = PublicKey.from_spki(spki_of_point(point))
    except (KeyFileError, ValueError):
        return None
    return key if key.alg is Alg.SM2 else None


def signature_forms(blob: bytes) -> list[tuple[bytes, list[str]]]:
    """The ways to read r||s from a signature field, each with the quirks reading it so takes: a DER
    SEQUENCE{r, s}, and for 64 bytes a bare r||s as some signers store it (either may be the right one
    when a bare r starts with 0x30). Empty when neither reading works."""
    forms = []
    quirks: list[str] = []
    try:
        parts = der.parse(blob).expect(der.SEQUENCE, "SM2 signature").items("SM2 signature", 2)
        r, s = (p.integer(quirks) for p in parts[:2])
        if len(parts) == 2 and 0 < r < 2**256 and 0 < s < 2**256:
            forms.append((r.to_bytes(32, "big") + s.to_bytes(32, "big"), quirks))
    except DocumentError:
        pass
    if len(blob) == 64:
        forms.append((blob, ["signature stored as bare r||s instead of DER"]))
    return forms


def verify(point: bytes | None, signature: bytes, data: bytes, quirks: list[str]) -> bool:
    """Quirks of the reading are noted only when that reading verifies."""
    key = public_key(point) if point else None
    if key is None:
        return False
    for raw, noted in signature_forms(signature):
        if key.verify(raw, data):
            quirks.extend(noted)
            return True
    return False


def sign(key: PrivateKey, data: bytes) -> bytes:
    """A DER SEQUENCE{r, s} SM2 signature, the form certificates and seals carry."""
    raw = key.sign(data)
    return der.seq(der.integer(int.from_bytes(raw[:32], "big")), der.integer(int.from_bytes(raw[32:], "big")))
