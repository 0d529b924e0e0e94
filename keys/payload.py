"""The signed payload: certificate claims -> CBOR -> zlib when smaller -> COSE_Sign1 -> base32 -> QR URL.

The claims are deflated inside the COSE structure, not the structure itself, so the signature covers
every byte that travels: deflate ignores the padding bits of its last byte, and a compressed envelope
would let a changed character still verify. Headers, kid and signature do not compress anyway.
Reading goes back stage by stage with hard limits checked before any parsing. Anything that is not one
of our codes, or is damaged, is `malformed`: an answer, never an exception. The byte layout, claim
table and the reasons behind each choice are in docs/credential-format.md.
"""

from __future__ import annotations

import base64
import re
import zlib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import cbor2

from . import cbor
from .algorithms import Alg, PrivateKey, cose_id
from .answer import SIGNATURE_LABELS, IssuerRef, Signature, SignatureResult
from .errors import CraneError
from .identifiers import CRANE_TYPE_CODE, SERIAL_RE, LicenceId
from .record import Category, Record
from .trustlist import KeyRole, TrustedIssuer, TrustedKey, TrustList
from .zdict import ZDICT

MAX_TEXT = 2048          # characters of QR text; QR version 40 holds 4296 alphanumerics, ours stay far below
MAX_INFLATED = 4096      # bytes of claims after inflating
MAX_DEPTH = 6            # CBOR nesting: COSE array > claims map > certificate map is 3
FUTURE_SKEW = timedelta(days=1)  # a signing time this far past the verifier's clock is not believed

ZLIB_FIRST_BYTE = 0x78
FDICT = 0x20
DICT_ID = zlib.adler32(ZDICT).to_bytes(4, "big")
COSE_FIRST_BYTE = 0xD2   # tag 18, COSE_Sign1
CBOR_MAP_BYTES = range(0xA0, 0xC0)  # an uncompressed claims map; 0x78 can never start one

# CWT claims (RFC 8392) and COSE header labels (RFC 9052).
ISS, IAT, CTI = 1, 6, 7
CERT = -65537            # private-use claim: the map of certificate fields below
HDR_ALG, HDR_KID = 1, 4


class Field:
    """Keys of the certificate map inside the CERT claim. Small integers keep the QR code small."""

    VERSION = 1
    LICENCE_SERIAL = 2   # the identifier's serial; root, type code and issuer credit code are implied
    LICENCE_ID = 3       # the whole identifier, when it does not have the implied form
    ISSUED_ON = 4        # days since 1970-01-01
    CATEGORY = 5         # Category.code
    MODEL = 6
    RECORD_NO = 7
    FACTORY_SERIAL = 8
    USER = 9
    PROJECT = 10
    POSITION = 11


_URL_RE = re.compile(r"(?i:https?)://[^/?#\s]{1,253}/[Vv]/([A-Z2-7]+)")
_BARE_RE = re.compile(r"[A-Z2-7]{16,}")
_EPOCH = date(1970, 1, 1)


class Malformed(ValueError):
    """Why a text is not one of our codes. Verification turns it into the `malformed` result."""


@dataclass(frozen=True)
class Claims:
    """What the payload says, as an inspector compares it on site."""

    issuer_code: str
    signed_at: datetime
    registration_no: str
    version: int
    issued_on: date
    category: Category
    model: str
    record_no: str
    factory_serial: str
    user: str
    project: str
    position: str = ""
    licence_serial: str | None = None
    licence_id_full: str | None = None

    @classmethod
    def from_record(cls, record: Record, signed_at: datetime) -> Claims:
        serial, full = None, record.licence_id
        if record.licence_id:
            parsed = LicenceId.parse(record.licence_id)
            if parsed.type_code == CRANE_TYPE_CODE and parsed.issuer_credit_code == record.issuer.credit_code:
                serial, full = parsed.serial, None
        return cls(
            issuer_code=record.issuer.code, signed_at=signed_at.replace(microsecond=0),
            registration_no=record.registration_no, version=record.version, issued_on=record.issued_on,
            category=record.equipment.category, model=record.equipment.model,
            record_no=record.equipment.record_no, factory_serial=record.equipment.factory_serial,
            user=record.user.name, project=record.project.name, position=record.project.position,
            licence_serial=serial, licence_id_full=full,
        )

    def licence_id(self, issuer: TrustedIssuer | None) -> str | None:
        if self.licence_id_full or self.licence_serial is None:
            return self.licence_id_full
        if issuer is None or issuer.credit_code is None:
            return None
        return str(LicenceId(CRANE_TYPE_CODE, issuer.credit_code, self.licence_serial, self.version))

    def differences(self, record: Record) -> list[str]:
        """Record fields the payload states differently (import refuses such a pair)."""
        mine = Claims.from_record(record, self.signed_at)
        return [name for name in self.__dataclass_fields__ if getattr(mine, name) != getattr(self, name)]

    def certificate(self, issuer: TrustedIssuer | None) -> dict[str, Any]:
        """The fields as the answer's `certificate` object carries them."""
        return {
            "registration_no": self.registration_no, "version": self.version,
            "licence_id": self.licence_id(issuer), "issued_on": self.issued_on.isoformat(),
            "issuer": {"code": self.issuer_code, "name": issuer.name if issuer else None},
            "equipment": {"category": self.category.value, "category_zh": self.category.zh,
                          "model": self.model, "record_no": self.record_no, "factory_serial": self.factory_serial},
            "user": {"name": self.user},
            "project": {"name": self.project, "position": self.position},
            "signed_at": self.signed_at.isoformat(),
        }

    def to_cbor(self) -> bytes:
        cert = {
            Field.VERSION: self.version, Field.ISSUED_ON: (self.issued_on - _EPOCH).days,
            Field.CATEGORY: self.category.code, Field.MODEL: self.model, Field.RECORD_NO: self.record_no,
            Field.FACTORY_SERIAL: self.factory_serial, Field.USER: self.user, Field.PROJECT: self.project,
        }
        if self.position:
            cert[Field.POSITION] = self.position
        if self.licence_serial is not None:
            cert[Field.LICENCE_SERIAL] = self.licence_serial
        elif self.licence_id_full is not None:
            cert[Field.LICENCE_ID] = self.licence_id_full
        claims = {ISS: self.issuer_code, IAT: int(self.signed_at.timestamp()),
                  CTI: self.registration_no.encode("utf-8"), CERT: cert}
        return cbor2.dumps(claims, canonical=True)

    @classmethod
    def from_cbor(cls, data: bytes) -> Claims:
        claims = _loads(inflate(data), "claims")
        cert = claims.get(CERT) if isinstance(claims, dict) else None
        if not isinstance(cert, dict):
            raise Malformed("claims are not a map with the certificate claim")
        try:
            registration_no = _typed(claims, CTI, bytes).decode("utf-8")
            result = cls(
                issuer_code=_typed(claims, ISS, str),
                signed_at=datetime.fromtimestamp(_typed(claims, IAT, int), UTC),
                registration_no=registration_no,
                version=_typed(cert, Field.VERSION, int),
                issued_on=_EPOCH + timedelta(days=_typed(cert, Field.ISSUED_ON, int)),
                category=Category.from_code(_typed(cert, Field.CATEGORY, int)),
                model=_typed(cert, Field.MODEL, str), record_no=_typed(cert, Field.RECORD_NO, str),
                factory_serial=_typed(cert, Field.FACTORY_SERIAL, str), user=_typed(cert, Field.USER, str),
                project=_typed(cert, Field.PROJECT, str), position=_typed(cert, Field.POSITION, str, ""),
                licence_serial=_typed(cert, Field.LICENCE_SERIAL, str, None),
                licence_id_full=_typed(cert, Field.LICENCE_ID, str, None),
            )
            # A signed payload must still describe a certificate the rest of the system can state.
            if not 1 <= result.version <= 999:
                raise ValueError("version must be 1-999")
            if result.licence_serial is not None and not SERIAL_RE.fullmatch(result.licence_serial):
                raise ValueError("licence serial must be 1-32 characters of 0-9 and A-Z")
            if result.licence_id_full is not None:
                LicenceId.parse(result.licence_id_full)
        except (ValueError, OverflowError, OSError) as exc:
            raise Malformed(f"claims: {exc}") from None
        return result


def _typed(obj: dict[Any, Any], key: int, kind: type, *default: Any) -> Any:
    if key not in obj:
        if default:
            return default[0]
        raise Malformed(f"claim {key} is missing")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise Malformed(f"claim {key} is not {kind.__name__}")
    return value


def _loads(data: bytes, what: str, tags: frozenset[int] = frozenset()) -> Any:
    try:
        return cbor.loads(data, MAX_DEPTH, allowed_tags=tags)
    except cbor.CborError as exc:
        raise Malformed(f"{what}: {exc}") from None


@dataclass(frozen=True)
class Envelope:
    """A parsed COSE_Sign1, before its signature is checked."""

    protected: bytes
    alg_id: int
    kid: str
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected, self.payload)


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload], canonical=True)


# --- writing -----------------------------------------------------------------------------------------

def deflate(claims: bytes) -> bytes:
    """Deflate with the preset dictionary only when it helps."""
    deflater = zlib.compressobj(9, zdict=ZDICT)
    deflated = deflater.compress(claims) + deflater.flush()
    return deflated if len(deflated) < len(claims) else claims


def sign(claims: Claims, key: PrivateKey) -> bytes:
    """COSE_Sign1 bytes; alg and kid sit in the protected header so both are covered by the signature."""
    kid = key.public_key().kid
    protected = cbor2.dumps({HDR_ALG: cose_id(key.alg), HDR_KID: bytes.fromhex(kid)}, canonical=True)
    payload = deflate(claims.to_cbor())
    signature = key.sign(sig_structure(protected, payload))
    return cbor2.dumps(cbor2.CBORTag(cbor.COSE_SIGN1_TAG, [protected, {}, payload, signature]), canonical=True)


def pack(cose: bytes) -> str:
    """Base32 without padding."""
    return base64.b32encode(cose).decode("ascii").rstrip("=")


def qr_prefix(base_url: str) -> str:
    match = re.fullmatch(r"(https?)://([^/?#\s]+)/?", base_url.strip(), re.IGNORECASE)
    if not match:
        raise ValueError(f"public URL must be scheme and host only, like https://verify.example.cn: {base_url}")
    return f"{match.group(1)}://{match.group(2)}/V/".upper()


def issue(record: Record, key: PrivateKey, base_url: str, signed_at: datetime) -> str:
    """The QR text for a record: an uppercase URL, all of it QR alphanumeric mode."""
    return qr_prefix(base_url) + pack(sign(Claims.from_record(record, signed_at), key))


# --- reading -----------------------------------------------------------------------------------------

def unprefix(text: str) -> str:
    """The base32 payload of a QR URL or of a bare payload."""
    if not isinstance(text, str):
        raise Malformed("QR text is not text")
    if len(text) > MAX_TEXT:
        raise Malformed(f"QR text longer than {MAX_TEXT} characters")
    text = text.strip()
    match = _URL_RE.fullmatch(text)
    if match:
        return match.group(1)
    if _BARE_RE.fullmatch(text):
        return text
    raise Malformed("not a crane certificate URL or payload")


def b32decode(payload: str) -> bytes:
    """Strict base32: RFC 4648 alphabet, no padding, and the one canonical spelling of each byte string.

    Read as one base-32 integer (int() in C, a tenth of base64's time): every scan of a new code pays this.
    """
    if len(payload) % 8 not in (0, 2, 4, 5, 7):
        raise Malformed("base32 payload has an impossible length")
    if not _B32_RE.fullmatch(payload):   # also keeps out what int() would take: signs, spaces, underscores
        raise Malformed("payload is not base32")
    if not payload:
        return b""
    spare = 5 * len(payload) % 8   # bits past the last whole byte, zero in the one canonical spelling
    number = int(payload.translate(_B32_DIGITS), 32)
    if number & ((1 << spare) - 1):
        raise Malformed("base32 payload has non-zero trailing bits")
    return (number >> spare).to_bytes(5 * len(payload) // 8, "big")


_B32_RE = re.compile("[A-Z2-7]*")
_B32_DIGITS = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv")


def inflate(raw: bytes) -> bytes:
    """The claims CBOR of a COSE payload: a CBOR map as it is, or a zlib stream with the preset dictionary."""
    if not raw:
        raise Malformed("empty payload")
    if len(raw) > MAX_INFLATED:
        raise Malformed(f"payload larger than {MAX_INFLATED} bytes")
    if raw[0] in CBOR_MAP_BYTES:
        return raw
    if raw[0] == ZLIB_FIRST_BYTE:
        if len(raw) < 6 or not raw[1] & FDICT or raw[2:6] != DICT_ID:
            raise Malformed("zlib stream does not use the format's preset dictionary")
        inflater = zlib.decompressobj(zdict=ZDICT)
        try:
            cose = inflater.decompress(raw, MAX_INFLATED + 1)
        except zlib.error:
            raise Malformed("payload is not a valid zlib stream") from None
        if len(cose) > MAX_INFLATED or inflater.unconsumed_tail:
            raise Malformed(f"payload inflates past {MAX_INFLATED} bytes")
        if not inflater.eof:
            raise Malformed("zlib stream is truncated")
        if inflater.unused_data:
            raise Malformed("bytes follow the zlib stream")
        return cose
    raise Malformed("payload is neither a claims map nor zlib")


def parse_cose(data: bytes) -> Envelope:
    if not data or data[0] != COSE_FIRST_BYTE:
        raise Malformed("not a tagged COSE_Sign1")
    if len(data) > MAX_INFLATED:
        raise Malformed(f"COSE structure larger than {MAX_INFLATED} bytes")
    item = _loads(data, "COSE", frozenset({cbor.COSE_SIGN1_TAG}))
    if not isinstance(item, cbor.Tagged) or item.tag != cbor.COSE_SIGN1_TAG:
        raise Malformed("not a tagged COSE_Sign1")
    parts = item.value
    if not (isinstance(parts, list) and len(parts) == 4):
        raise Malformed("COSE_Sign1 is not an array of four")
    protected, unprotected, payload, signature = parts
    if not (isinstance(protected, bytes) and isinstance(unprotected, dict)
            and isinstance(payload, bytes) and isinstance(signature, bytes)):
        raise Malformed("COSE_Sign1 members have the wrong types")
    header = _loads(protected, "protected header")
    if not isinstance(header, dict) or unprotected:
        raise Malformed("alg and kid belong in the protected header, and nothing else in the unprotected one")
    alg_id, kid = header.get(HDR_ALG), header.get(HDR_KID)
    if not isinstance(alg_id, int) or not isinstance(kid, bytes) or len(kid) != 8:
        raise Malformed("protected header needs alg and an 8-byte kid")
    return Envelope(protected, alg_id, kid.hex(), payload, signature)


def decode(text: str) -> Envelope:
    return parse_cose(b32decode(unprefix(text)))


@dataclass(frozen=True)
class Verification:
    """The outcome of checking one payload against a trust list at a moment in time."""

    result: SignatureResult
    kid: str | None = None
    alg: Alg | None = None
    issuer: TrustedIssuer | None = None
    claims: Claims | None = None
    reason: str = ""
    key: TrustedKey | None = None

    @property
    def valid(self) -> bool:
        return self.result is SignatureResult.VALID

    @property
    def not_ours(self) -> bool:
        """Not one of our codes at all, as opposed to one of ours that failed a check."""
        return self.result is SignatureResult.MALFORMED and self.claims is None

    def signature_registered(self, registered_at: datetime | None) -> Signature:
        """The signature as the registry sees it: a stolen key cannot backdate its way past its compromise,
        because the registry knows when it first saw the payload."""
        key = self.key
        if self.valid and key and key.compromised_at and registered_at and registered_at >= key.compromised_at:
            return replace(self.signature(), result=SignatureResult.KEY_REVOKED)
        return self.signature()

    def signature(self) -> Signature:
        issuer = IssuerRef(self.issuer.code, self.issuer.name) if self.issuer else None
        return Signature(self.result, self.kid, self.alg.value if self.alg else None, issuer)


def verify_at(text: str, trust: TrustList, now: datetime) -> Verification:
    """Check a QR text; the algorithm comes from the trusted key, never from the header alone."""
    try:
        envelope = decode(text)
    except Malformed as exc:
        return Verification(SignatureResult.MALFORMED, reason=str(exc))
    return verify_envelope(envelope, trust, now)


def verify_envelope(envelope: Envelope, trust: TrustList, now: datetime) -> Verification:
    candidates = trust.keys_for(envelope.kid, KeyRole.ISSUER)
    if not candidates:
        return Verification(SignatureResult.UNKNOWN_KEY, kid=envelope.kid, reason="no trusted key has this kid")
    message = envelope.to_be_signed()
    key = next((k for k in candidates
                if cose_id(k.alg) == envelope.alg_id and k.public_key.verify(envelope.signature, message)), None)
    if key is None:
        return Verification(SignatureResult.INVALID, kid=envelope.kid,
                            reason="signature does not verify with any trusted key of this kid")
    issuer = trust.issuer(key.issuer)
    found = Verification(SignatureResult.VALID, kid=key.kid, alg=key.alg, issuer=issuer, key=key)
    try:
        claims = Claims.from_cbor(envelope.payload)
    except Malformed as exc:
        return replace(found, result=SignatureResult.MALFORMED, reason=str(exc))
    found = replace(found, result=SignatureResult.VALID, claims=claims)
    if claims.issuer_code != key.issuer:
        return replace(found, result=SignatureResult.INVALID, reason="payload names another issuer than the key's")
    beyond = authority_problem(issuer, claims.registration_no, claims.licence_id_full)
    if beyond:
        return replace(found, result=SignatureResult.INVALID, reason=beyond[2])
    if claims.signed_at > now + FUTURE_SKEW:
        return replace(found, result=SignatureResult.KEY_NOT_VALID_AT_ISSUE, reason="signing time is in the future")
    judged = key.judge(claims.signed_at)
    if judged is SignatureResult.KEY_REVOKED:
        return replace(found, result=judged, reason=f"key {key.kid} is compromised from {key.compromised_at}")
    if judged is SignatureResult.KEY_NOT_VALID_AT_ISSUE and key.retired_at and claims.signed_at >= key.retired_at:
        return replace(found, result=judged, reason=f"key {key.kid} is retired from {key.retired_at}")
    if judged is SignatureResult.KEY_NOT_VALID_AT_ISSUE:
        return replace(found, result=judged, reason=f"signed at {claims.signed_at}, outside key {key.kid}'s "
                                                    f"validity {key.not_before or '-'} .. {key.not_after or '-'}")
    return found


def authority_problem(issuer: TrustedIssuer | None, registration_no: str,
                      licence_id: str | None) -> tuple[str, str, str] | None:
    """Why an issuer may not state this number or e-licence identifier (code, zh, en), or None when it may.

    A key signs for its issuer only: numbers outside the issuer's number space and identifiers whose
    issuer part is another authority's credit code (as the trust list, never the record, states it) are
    not its to give. An implied identifier (serial only) is made from the signer's credit code already.
    """
    if issuer is None:  # a key whose issuer the trust list does not name speaks for no number space
        return ("number_outside_issuer_space", f"登记编号 {registration_no} 的发证机关不在信任列表中，没有编号范围",
                f"registration number {registration_no}: its issuer has no trust-list entry, so no number space")
    if not issuer.owns(registration_no):
        return ("number_outside_issuer_space", f"登记编号 {registration_no} 不在发证机关 {issuer.code} 的编号范围内",
                f"registration number {registration_no} is outside the number space of issuer {issuer.code}")
    if licence_id is not None and (issuer.credit_code is None
                                   or LicenceId.parse(licence_id).issuer_credit_code != issuer.credit_code):
        return ("licence_id_of_another_issuer", "电子证照标识的发证机关部分不是签发机关的统一社会信用代码",
                "the e-licence identifier names another issuer than the signing one")
    return None


class SignedRecordError(CraneError, ValueError):
    """A record and its QR text do not belong together; `code` says why, for an API to map."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def check_signed_record(record: Record, qr_text: object, trust: TrustList, now: datetime) -> str | None:
    """The record's QR text, when a trusted key of its issuer signed exactly this record; None for paper.

    What an issuing system hands in (the issuer API, a bulk import) is checked here, one way for all.
    """
    beyond = authority_problem(trust.issuer(record.issuer.code), record.registration_no, record.licence_id)
    if beyond:
        raise SignedRecordError(beyond[0], f"{beyond[1]} / {beyond[2]}")
    if record.paper:
        if qr_text:
            raise SignedRecordError("invalid_record", "纸质证书没有二维码内容 qr_text / a paper certificate has no QR payload")
        return None
    if not isinstance(qr_text, str):
        raise SignedRecordError("missing_qr_text", "电子证书须附二维码内容 qr_text / an electronic certificate needs its qr_text")
    verification = verify_at(qr_text, trust, now)
    if not verification.valid:
        result = verification.result.value
        zh, _ = SIGNATURE_LABELS[verification.result]
        raise SignedRecordError("signature_" + result, f"二维码签名未通过（{zh}） / signature {result}"
                                + (f": {verification.reason}" if verification.reason else ""))
    assert verification.claims is not None  # a valid verification always carries its claims
    differences = verification.claims.differences(record)
    if differences:
        raise SignedRecordError("payload_mismatch", "签名内容与记录不一致，字段 / the signed payload differs from the "
                                "record in: " + ", ".join(differences))
    return qr_text.strip()
