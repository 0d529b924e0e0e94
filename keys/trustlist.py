"""The trust list: which issuers and keys a verifier trusts, signed by the root key.

The document is `{"list": {...}, "signatures": [{"kid", "alg", "sig"}]}`; each signature covers a
domain tag and the canonical JSON of `list` (sorted keys, no spaces, UTF-8). A list is accepted when
its own root signed it and, if that root is not the pinned one, the pinned root signed it too: that
cross-signature is how a verifier pinned to an old root moves on to a new one.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from .algorithms import Alg, PrivateKey, PublicKey
from .answer import SignatureResult
from .errors import CraneError, TrustListError
from .identifiers import validate_credit_code

_DOMAIN = b"crane-trust-list-v1\x00"
FORMAT = 1


class KeyRole(StrEnum):
    ISSUER = "issuer"
    FEED = "feed"


class KeyState(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"
    COMPROMISED = "compromised"


@dataclass(frozen=True)
class IssuerContact:
    """How the public reaches an issuing authority; shown on pages of certificates that may not be used."""

    phone: str = ""
    address: str = ""
    url: str = ""

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in (("phone", self.phone), ("address", self.address), ("url", self.url)) if v}

    @classmethod
    def from_json(cls, data: Any) -> IssuerContact:
        if not isinstance(data, dict) or set(data) - {"phone", "address", "url"}:
            raise TrustListError("an issuer's contact is an object of phone, address and url")
        values = {k: data.get(k, "") for k in ("phone", "address", "url")}
        if not all(isinstance(v, str) and len(v) <= 200 for v in values.values()):
            raise TrustListError("an issuer's contact holds texts of at most 200 characters")
        # Pages link to it: only a web address, never javascript: or another scheme.
        if values["url"] and not re.fullmatch(r"https?://[^\s\"'<>]+", values["url"]):
            raise TrustListError(f"an issuer's contact url must be an http(s) address: {values['url']!r}")
        return cls(**values)


@dataclass(frozen=True)
class TrustedIssuer:
    code: str
    name: str
    credit_code: str | None = None
    # The registration numbers this issuer may sign, by prefix ("辽A-"); None: a list from before number
    # spaces, in which the issuer is not limited.
    number_prefixes: tuple[str, ...] | None = None
    contact: IssuerContact | None = None

    def owns(self, registration_no: str) -> bool:
        return self.number_prefixes is None or registration_no.startswith(self.number_prefixes)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "name": self.name, "credit_code": self.credit_code}
        if self.number_prefixes is not None:
            out["number_prefixes"] = list(self.number_prefixes)
        if self.contact is not None:
            out["contact"] = self.contact.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrustedIssuer:
        prefixes = data.get("number_prefixes")
        if prefixes is not None and not (isinstance(prefixes, list) and all(
                isinstance(p, str) and 0 < len(p) <= 40 for p in prefixes)):
            raise TrustListError(f"issuer {data['code']}: number_prefixes is a list of texts")
        contact = data.get("contact")
        credit_code = data.get("credit_code")
        if credit_code is not None and not isinstance(credit_code, str):
            raise TrustListError(f"issuer {data['code']}: credit_code is a text or null")
        return cls(str(data["code"]), str(data["name"]),
                   validate_credit_code(credit_code) if credit_code else None,  # "" names none, as null does
                   None if prefixes is None else tuple(prefixes),
                   None if contact is None else IssuerContact.from_json(contact))


@dataclass(frozen=True)
class TrustedKey:
    kid: str
    public_key: PublicKey
    issuer: str
    role: KeyRole = KeyRole.ISSUER
    not_before: datetime | None = None
    not_after: datetime | None = None
    state: KeyState = KeyState.ACTIVE
    compromised_at: datetime | None = None
    retired_at: datetime | None = None  # signs nothing from this moment; what it signed before stands

    @property
    def alg(self) -> Alg:
        return self.public_key.alg

    def judge(self, signed_at: datetime) -> SignatureResult:
        """Validity and compromise are judged at the signing time, so a retired key still verifies its past."""
        if self.state is KeyState.COMPROMISED and (self.compromised_at is None or signed_at >= self.compromised_at):
            return SignatureResult.KEY_REVOKED
        if self.retired_at is not None and signed_at >= self.retired_at:
            return SignatureResult.KEY_NOT_VALID_AT_ISSUE
        if (self.not_before and signed_at < self.not_before) or (self.not_after and signed_at > self.not_after):
            return SignatureResult.KEY_NOT_VALID_AT_ISSUE
        return SignatureResult.VALID

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kid": self.kid, "alg": self.alg.value, "issuer": self.issuer, "role": self.role.value,
            "public_key": base64.b64encode(self.public_key.spki).decode(),
            "not_before": _iso(self.not_before), "not_after": _iso(self.not_after),
            "state": self.state.value, "compromised_at": _iso(self.compromised_at),
        }
        if self.retired_at is not None:
            out["retired_at"] = _iso(self.retired_at)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrustedKey:
        public_key = PublicKey.from_spki(base64.b64decode(data["public_key"], validate=True))
        if Alg(data["alg"]) is not public_key.alg:
            raise TrustListError(f"key {data['kid']}: alg {data['alg']} does not match its {public_key.alg} key")
        return cls(
            kid=str(data["kid"]), public_key=public_key, issuer=str(data["issuer"]), role=KeyRole(data["role"]),
            not_before=_time(data.get("not_before")), not_after=_time(data.get("not_after")),
            state=KeyState(data.get("state", "active")), compromised_at=_time(data.get("compromised_at")),
            retired_at=_time(data.get("retired_at")),
        )


@dataclass(frozen=True)
class TrustList:
    root: PublicKey | None = None
    serial: int = 1
    issued_at: datetime | None = None
    issuers: tuple[TrustedIssuer, ...] = ()
    keys: tuple[TrustedKey, ...] = ()
    _by_kid: dict[str, list[TrustedKey]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for key in self.keys:
            self._by_kid.setdefault(key.kid, []).append(key)

    def keys_for(self, kid: str, role: KeyRole) -> list[TrustedKey]:
        """Every key with this kid: ids are short, so more than one may share one."""
        return [k for k in self._by_kid.get(kid, ()) if k.role is role]

    def issuer(self, code: str) -> TrustedIssuer | None:
        return next((i for i in self.issuers if i.code == code), None)

    def with_issuer(self, issuer: TrustedIssuer) -> TrustList:
        others = tuple(i for i in self.issuers if i.code != issuer.code)
        return replace(self, issuers=(*others, issuer))

    def with_key(self, key: TrustedKey) -> TrustList:
        others = tuple(k for k in self.keys if k.public_key != key.public_key)
        return replace(self, keys=(*others, key))

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "serial": self.serial, "issued_at": _iso(self.issued_at),
            "root": None if self.root is None else {
                "alg": self.root.alg.value, "kid": self.root.kid,
                "public_key": base64.b64encode(self.root.spki).decode()},
            "issuers": [i.to_json() for i in sorted(self.issuers, key=lambda i: i.code)],
            "keys": [k.to_json() for k in sorted(self.keys, key=lambda k: (k.kid, k.public_key.spki))],
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> TrustList:
        try:
            if body.get("format") != FORMAT:
                raise TrustListError(f"unsupported trust list format {body.get('format')!r}")
            # Only null names no root: [], {}, "", 0 or false are a malformed root, refused here.
            root_data = body.get("root")
            root = None if root_data is None else PublicKey.from_spki(
                base64.b64decode(root_data["public_key"], validate=True))
            return cls(
                root=root, serial=int(body["serial"]), issued_at=_time(body.get("issued_at")),
                issuers=tuple(TrustedIssuer.from_json(i) for i in body["issuers"]),
                keys=tuple(TrustedKey.from_json(k) for k in body["keys"]),
            )
        except TrustListError:
            raise
        except (CraneError, KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise TrustListError(f"malformed trust list: {exc!r}") from None


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_message(domain: bytes, value: Any) -> bytes | None:
    """The bytes a signature over `value` covers; None when no one can have signed it: a lone surrogate
    ("\\ud800", which json.loads accepts) has no UTF-8, so such a document reads as unsigned, never a crash."""
    try:
        return domain + canonical_json(value)
    except UnicodeEncodeError:
        return None


@dataclass(frozen=True)
class SignedTrustList:
    """The document as published: a list body and the root signatures over it."""

    body: dict[str, Any]
    signatures: tuple[dict[str, str], ...] = ()

    @classmethod
    def sign(cls, trust: TrustList, *root_keys: PrivateKey) -> SignedTrustList:
        body = trust.body()
        message = _DOMAIN + canonical_json(body)
        signatures = tuple(
            {"kid": k.public_key().kid, "alg": k.alg.value, "sig": base64.b64encode(k.sign(message)).decode()}
            for k in root_keys
        )
        return cls(body, signatures)

    def to_json(self) -> dict[str, Any]:
        return {"list": self.body, "signatures": list(self.signatures)}

    def dumps(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8") + b"\n"

    @classmethod
    def loads(cls, data: bytes | str) -> SignedTrustList:
        try:
            doc = json.loads(data)
            body, signatures = doc["list"], doc.get("signatures", [])
            # Objects only, as webapp/src/core/trustlist.js reads them: dict() would also take a list of pairs.
            if not isinstance(body, dict) or not isinstance(signatures, list) or not all(
                    isinstance(s, dict) for s in signatures):
                raise TypeError("list is an object and signatures a list of objects")
            return cls(body, tuple(signatures))
        except (ValueError, KeyError, TypeError) as exc:
            raise TrustListError(f"not a trust list document: {exc}") from None

    def signed_by(self, root: PublicKey) -> bool:
        message = signed_message(_DOMAIN, self.body)
        if message is None:
            return False
        for sig in self.signatures:
            try:
                raw = base64.b64decode(sig["sig"], validate=True)
            except (KeyError, ValueError, TypeError):
                continue
            if sig.get("kid") == root.kid and root.verify(raw, message):
                return True
        return False

    def verify(self, pinned_root: PublicKey) -> TrustList:
        """The list, when its own root and the pinned root both signed it; else TrustListError."""
        trust = TrustList.from_body(self.body)
        if trust.root is None or not self.signed_by(trust.root):
            raise TrustListError("trust list is not signed by the root it names")
        if trust.root != pinned_root and not self.signed_by(pinned_root):
            raise TrustListError("trust list is not signed by the pinned root key")
        return trust

    def unverified(self) -> TrustList:
        """For editing a list before it is signed; never for verification."""
        return TrustList.from_body(self.body)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise TrustListError(f"time {value} has no time zone")
    return moment
