"""Signature algorithms, one table entry each, and the key types that use them.

Signatures are raw bytes as COSE carries them: Ed25519's 64 bytes, and r||s (32 + 32) for ES256 and SM2.
SM2 signs with SM3 over Z_A||M with the default user ID 1234567812345678 (GB/T 32918), which is what
Tongsuo computes when no ID is set.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from tongsuopy.crypto import hashes as gm_hashes
from tongsuopy.crypto import serialization as gm_serialization
from tongsuopy.crypto.asymciphers import ec as gm_ec
from tongsuopy.crypto.exceptions import InvalidSignature as GmInvalidSignature

from .errors import KeyFileError


class Alg(StrEnum):
    EDDSA = "EdDSA"
    ES256 = "ES256"
    SM2 = "SM2"


@dataclass(frozen=True)
class _Scheme:
    alg: Alg
    cose_id: int
    generate: Callable[[], Any]
    sign: Callable[[Any, bytes], bytes]
    verify: Callable[[Any, bytes, bytes], None]  # raises on a bad signature
    is_private: Callable[[Any], bool]
    is_public: Callable[[Any], bool]
    serialization: Any = field(default=serialization)


def _raw_to_der(sig: bytes) -> bytes:
    if len(sig) != 64:
        raise InvalidSignature
    return encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))


def _der_to_raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(bytes(der))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# ECDSA accepts (r, s) and (r, n - s) alike; only the low form is made and accepted, so one payload has
# exactly one valid signature (as in BIP 62).
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _low_s(raw: bytes) -> bytes:
    s = int.from_bytes(raw[32:], "big")
    return raw if s <= _P256_N // 2 else raw[:32] + (_P256_N - s).to_bytes(32, "big")


def _p256_verify(key: Any, sig: bytes, data: bytes) -> None:
    if len(sig) != 64 or int.from_bytes(sig[32:], "big") > _P256_N // 2:
        raise InvalidSignature
    key.verify(_raw_to_der(sig), data, _ECDSA_SHA256)


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_SM2_SM3 = gm_ec.ECDSA(gm_hashes.SM3())

# COSE algorithm identifiers (RFC 9053); SM2 has none registered, so it takes one from the private-use
# range (below -65536). Adding an algorithm is adding an entry here.
_SCHEMES: dict[Alg, _Scheme] = {
    Alg.EDDSA: _Scheme(
        Alg.EDDSA, -8,
        generate=ed25519.Ed25519PrivateKey.generate,
        sign=lambda k, data: k.sign(data),
        verify=lambda k, sig, data: k.verify(sig, data),
        is_private=lambda k: isinstance(k, ed25519.Ed25519PrivateKey),
        is_public=lambda k: isinstance(k, ed25519.Ed25519PublicKey),
    ),
    Alg.ES256: _Scheme(
        Alg.ES256, -7,
        generate=lambda: ec.generate_private_key(ec.SECP256R1()),
        sign=lambda k, data: _low_s(_der_to_raw(k.sign(data, _ECDSA_SHA256))),
        verify=_p256_verify,
        is_private=lambda k: isinstance(k, ec.EllipticCurvePrivateKey) and isinstance(k.curve, ec.SECP256R1),
        is_public=lambda k: isinstance(k, ec.EllipticCurvePublicKey) and isinstance(k.curve, ec.SECP256R1),
    ),
    Alg.SM2: _Scheme(
        Alg.SM2, -65601,
        generate=lambda: gm_ec.generate_private_key(gm_ec.SM2()),
        sign=lambda k, data: _der_to_raw(k.sign(data, _SM2_SM3)),
        verify=lambda k, sig, data: k.verify(_raw_to_der(sig), data, _SM2_SM3),
        is_private=lambda k: isinstance(k, gm_ec.EllipticCurvePrivateKey) and isinstance(k.curve, gm_ec.SM2),
        is_public=lambda k: isinstance(k, gm_ec.EllipticCurvePublicKey) and isinstance(k.curve, gm_ec.SM2),
        serialization=gm_serialization,
    ),
}


def cose_id(alg: Alg) -> int:
    return _SCHEMES[alg].cose_id


def _scheme_of(key: Any, private: bool) -> _Scheme:
    for scheme in _SCHEMES.values():
        if (scheme.is_private if private else scheme.is_public)(key):
            return scheme
    raise KeyFileError(f"unsupported key type {type(key).__name__}; use Ed25519, P-256 or SM2")


def kid_of(spki_der: bytes) -> str:
    """Key id: the first 8 bytes of SHA-256 over the SubjectPublicKeyInfo DER, as 16 lowercase hex."""
    return hashlib.sha256(spki_der).digest()[:8].hex()


@dataclass(frozen=True, eq=False)
class PublicKey:
    alg: Alg
    spki: bytes
    _key: Any = field(repr=False)

    @property
    def kid(self) -> str:
        return kid_of(self.spki)

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            _SCHEMES[self.alg].verify(self._key, signature, data)
        except (InvalidSignature, GmInvalidSignature, ValueError):
            return False
        return True

    def pem(self) -> bytes:
        lines = [base64.b64encode(self.spki[i:i + 48]) for i in range(0, len(self.spki), 48)]
        return b"-----BEGIN PUBLIC KEY-----\n" + b"\n".join(lines) + b"\n-----END PUBLIC KEY-----\n"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.spki == self.spki

    def __hash__(self) -> int:
        return hash(self.spki)

    @classmethod
    def from_spki(cls, der: bytes) -> PublicKey:
        return cls._load(der, "load_der_public_key")

    @classmethod
    def from_pem(cls, pem: bytes) -> PublicKey:
        return cls._load(pem, "load_pem_public_key")

    @classmethod
    def _load(cls, data: bytes, loader: str) -> PublicKey:
        key = _load_any(data, loader)
        scheme = _scheme_of(key, private=False)
        spki = key.public_bytes(scheme.serialization.Encoding.DER,
                                scheme.serialization.PublicFormat.SubjectPublicKeyInfo)
        return cls(scheme.alg, bytes(spki), key)


@dataclass(frozen=True, eq=False)
class PrivateKey:
    alg: Alg
    _key: Any = field(repr=False)

    @classmethod
    def generate(cls, alg: Alg = Alg.EDDSA) -> PrivateKey:
        return cls(alg, _SCHEMES[alg].generate())

    @classmethod
    def from_pem(cls, pem: bytes, passphrase: bytes | None = None) -> PrivateKey:
        key = _load_any(pem, "load_pem_private_key", passphrase)
        return cls(_scheme_of(key, private=True).alg, key)

    def sign(self, data: bytes) -> bytes:
        return bytes(_SCHEMES[self.alg].sign(self._key, data))

    def public_key(self) -> PublicKey:
        ser = _SCHEMES[self.alg].serialization
        pub = self._key.public_key()
        return PublicKey(self.alg, bytes(pub.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)),
                         pub)

    def write(self, path: Path, passphrase: bytes | None = None) -> None:
        """Mode 0600 from the start, so the key is never readable by others, even briefly; never overwrites."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.pem(passphrase))

    def pem(self, passphrase: bytes | None = None) -> bytes:
        ser = _SCHEMES[self.alg].serialization
        encryption = ser.BestAvailableEncryption(passphrase) if passphrase else ser.NoEncryption()
        return bytes(self._key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, encryption))


def _load_any(data: bytes, loader: str, *passphrase: bytes | None) -> Any:
    """Load with pyca/cryptography, and with Tongsuo for the SM2 curve that cryptography does not know."""
    errors = []
    for module in (serialization, gm_serialization):
        try:
            return getattr(module, loader)(data, *passphrase)
        except TypeError as exc:  # passphrase given for an unencrypted key, or missing for an encrypted one
            raise KeyFileError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - Tongsuo raises its own types for unknown data
            errors.append(exc)
    raise KeyFileError(f"not a readable key ({errors[0]})")
