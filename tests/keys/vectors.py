"""Generator of the payload test vectors in docs/test-vectors/ (format: docs/credential-format.md).

    .venv/bin/python -m tests.keys.vectors            write docs/test-vectors/
    .venv/bin/python -m tests.keys.vectors --fresh    ... signing ES256/SM2 anew instead of reusing
    .venv/bin/python -m tests.keys.vectors --sizes    measure QR versions of realistic records

Every key is a test-only key derived from a published label, so no private key is ever stored:
the Ed25519 seed is SHA-256(KEY_LABEL_PREFIX || label); the ES256 and SM2 private scalar is that
digest as a big-endian integer, mod (n - 1), plus 1. Whoever has this file can sign with these keys:
never trust them anywhere but in tests.

Ed25519 signatures are deterministic, so regenerating reproduces every Ed25519 vector byte for byte.
ES256 and SM2 signatures are randomised; to keep the committed files stable the generator reuses an
existing signature when the signed bytes (the Sig_structure) are unchanged and it still verifies.

Each vector is built from the library's own pieces (keys.payload.sign, sig_structure, deflate, pack,
cbor2), and its expected stages are what keys.payload answers. The generator also states the intended
result of each vector and stops when the library answers otherwise.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import statistics
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from tongsuopy.crypto.asymciphers import ec as gm_ec

from keys import payload
from keys.algorithms import Alg, PrivateKey, cose_id
from keys.answer import SignatureResult
from keys.identifiers import CRANE_TYPE_CODE, LicenceId
from keys.payload import (
    CERT,
    HDR_ALG,
    HDR_KID,
    MAX_DEPTH,
    MAX_TEXT,
    Claims,
    Field,
    Malformed,
    b32decode,
    inflate,
    pack,
    parse_cose,
    qr_prefix,
    sig_structure,
    unprefix,
    verify_at,
)
from keys.record import CATEGORY_CODES, Category, Record
from keys.samples import CITIES, authority_credit_code, issuer_json, sample_record
from keys.trustlist import KeyRole, KeyState, SignedTrustList, TrustedIssuer, TrustedKey, TrustList
from tests.scanner.merge_vectors import MERGE_FILE, merge_doc

from .feed_key_vectors import FEED_KEYS_FILE, feed_keys_doc
from .feed_vectors import FEED_PAGES_FILE, feed_pages_doc

OUT_DIR = Path(__file__).resolve().parents[2] / "docs" / "test-vectors"
VECTOR_FORMAT = 1
TRUST_LIST_FILE = "trust-list.json"
KEYS_FILE = "keys.json"
INDEX_FILE = "index.json"
ROTATION_FILE = "trust-list-rotation.json"
CATEGORIES_FILE = "categories.json"

KEY_LABEL_PREFIX = b"crane-verify test vector key: "
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SM2_ORDER = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123

STAGES = ("unprefix", "base32", "cose", "signature", "inflate", "claims")

CST = timezone(timedelta(hours=8))
BASE_URL = "https://verify.example.cn"
VERIFY_AT = datetime(2026, 11, 24, 10, 0, tzinfo=CST)
SIGNED_AT = datetime(2025, 3, 1, 9, 30, tzinfo=CST)
LIST_ISSUED_AT = datetime(2026, 11, 1, 9, 0, tzinfo=CST)
KEYS_FROM = datetime(2024, 7, 1, tzinfo=CST)
COMPROMISED_AT = datetime(2025, 6, 1, tzinfo=CST)
RETIRED_AT = datetime(2025, 9, 1, tzinfo=CST)
NUMBER_PREFIXES = {"210100": ("辽A-",), "210200": ("辽B-",)}

SHENYANG, DALIAN = CITIES[0], CITIES[1]


# --- test-only keys --------------------------------------------------------------------------------

def key_digest(label: str) -> bytes:
    return hashlib.sha256(KEY_LABEL_PREFIX + label.encode("utf-8")).digest()


def derive_key(label: str, alg: Alg) -> PrivateKey:
    """The test-only private key for a label (see the module docstring)."""
    digest = key_digest(label)
    if alg is Alg.EDDSA:
        return PrivateKey(alg, ed25519.Ed25519PrivateKey.from_private_bytes(digest))
    if alg is Alg.ES256:
        return PrivateKey(alg, ec.derive_private_key(int.from_bytes(digest, "big") % (P256_ORDER - 1) + 1,
                                                     ec.SECP256R1()))
    if alg is Alg.SM2:
        return PrivateKey(alg, gm_ec.derive_private_key(int.from_bytes(digest, "big") % (SM2_ORDER - 1) + 1,
                                                        gm_ec.SM2()))
    raise ValueError(f"no derivation for {alg}")


def derivation(alg: Alg) -> str:
    digest = f"sha256({KEY_LABEL_PREFIX.decode()!r} + label, UTF-8)"
    if alg is Alg.EDDSA:
        return f"{digest} is the Ed25519 private key (RFC 8032 32-byte seed)"
    curve = "P-256" if alg is Alg.ES256 else "SM2"
    return (f"{digest} read as a big-endian integer, mod (n - 1), plus 1, is the {curve} private scalar "
            f"(n = the {curve} group order)")


@dataclass(frozen=True)
class KeySpec:
    """A test key and, when it is in the vector trust list, its entry there."""

    label: str
    alg: Alg
    issuer: str | None = None          # None: not in the trust list
    role: KeyRole = KeyRole.ISSUER
    not_before: datetime | None = KEYS_FROM
    not_after: datetime | None = None
    state: KeyState = KeyState.ACTIVE
    compromised_at: datetime | None = None
    retired_at: datetime | None = None
    declared_kid_of: str | None = None  # listed under another key's kid (a kid collision)
    note: str = ""


ROOT = KeySpec("root-2026", Alg.EDDSA, note="root of the vector trust list")
NEXT_ROOT = KeySpec("root-2027", Alg.EDDSA, note="the next root, for the rotation vector")
KEY_SPECS = (
    KeySpec("issuer-210100-ed25519", Alg.EDDSA, "210100", note="沈阳 issuing key, Ed25519"),
    KeySpec("issuer-210100-es256", Alg.ES256, "210100", note="沈阳 issuing key, ES256 (P-256)"),
    KeySpec("issuer-210100-sm2", Alg.SM2, "210100", note="沈阳 issuing key, SM2 with SM3 (国密)"),
    KeySpec("issuer-210200-ed25519", Alg.EDDSA, "210200", note="大连 issuing key"),
    KeySpec("issuer-210100-ed25519-2025-only", Alg.EDDSA, "210100",
            not_before=datetime(2025, 1, 1, tzinfo=CST), not_after=datetime(2025, 12, 31, 23, 59, 59, tzinfo=CST),
            note="valid for signing during 2025 only"),
    KeySpec("issuer-210100-ed25519-compromised", Alg.EDDSA, "210100", state=KeyState.COMPROMISED,
            compromised_at=COMPROMISED_AT, note="compromised from 2025-06-01 00:00 +08:00"),
    KeySpec("issuer-210100-ed25519-retired", Alg.EDDSA, "210100", state=KeyState.RETIRED,
            not_after=datetime(2025, 6, 30, 23, 59, 59, tzinfo=CST), note="retired; its past signatures stand"),
    KeySpec("issuer-210100-ed25519-retired-at", Alg.EDDSA, "210100", state=KeyState.RETIRED, retired_at=RETIRED_AT,
            note="retired at 2025-09-01 00:00 +08:00: signs nothing from then on; its past signatures stand"),
    KeySpec("issuer-210100-collision-a", Alg.EDDSA, "210100", note="listed under its own kid"),
    KeySpec("issuer-210100-collision-b", Alg.EDDSA, "210100", declared_kid_of="issuer-210100-collision-a",
            note="listed under the kid of issuer-210100-collision-a: two trusted keys share one kid"),
    KeySpec("issuer-210300-ed25519-no-entry", Alg.EDDSA, "210300",
            note="a key of 鞍山 (210300), an issuer the list does not name: it owns no number space"),
    KeySpec("feed-210100-ed25519", Alg.EDDSA, "210100", role=KeyRole.FEED,
            note="signs the status feed; may not sign certificates"),
    KeySpec("feed-210100-ed25519-retired-at", Alg.EDDSA, "210100", role=KeyRole.FEED, state=KeyState.RETIRED,
            retired_at=RETIRED_AT, note="a feed key retired at 2025-09-01 00:00 +08:00: signs no page from then on"),
    KeySpec("feed-210100-ed25519-2025-only", Alg.EDDSA, "210100", role=KeyRole.FEED,
            not_before=datetime(2025, 1, 1, tzinfo=CST), not_after=datetime(2025, 12, 31, 23, 59, 59, tzinfo=CST),
            note="a feed key valid for signing pages during 2025 only"),
    KeySpec("unlisted-ed25519", Alg.EDDSA, note="in no trust list"),
    KeySpec("collision-stranger", Alg.EDDSA, note="in no trust list; signs under the collision kid"),
)
SPECS = {s.label: s for s in (ROOT, NEXT_ROOT, *KEY_SPECS)}


def key_doc(spec: KeySpec) -> dict[str, Any]:
    pub = derive_key(spec.label, spec.alg).public_key()
    return {"label": spec.label, "alg": spec.alg.value, "test_only": True, "derivation": derivation(spec.alg),
            "public_key": base64.b64encode(pub.spki).decode(), "kid": pub.kid,
            "listed_kid": listed_kid(spec) if spec.issuer else None, "note": spec.note}


def listed_kid(spec: KeySpec) -> str:
    source = SPECS[spec.declared_kid_of] if spec.declared_kid_of else spec
    return derive_key(source.label, source.alg).public_key().kid


def trust_list() -> TrustList:
    issuers = tuple(TrustedIssuer(c.code, c.authority, authority_credit_code(c), NUMBER_PREFIXES[c.code])
                    for c in (SHENYANG, DALIAN))
    keys = tuple(
        TrustedKey(listed_kid(s), derive_key(s.label, s.alg).public_key(), s.issuer, s.role, s.not_before,
                   s.not_after, s.state, s.compromised_at, s.retired_at)
        for s in KEY_SPECS if s.issuer)
    return TrustList(root=derive_key(ROOT.label, ROOT.alg).public_key(), serial=1, issued_at=LIST_ISSUED_AT,
                     issuers=issuers, keys=keys)


# --- signing, reusing randomised signatures ---------------------------------------------------------

class Signer:
    """Signs with test keys; an ES256/SM2 signature already in the vectors is reused for the same bytes."""

    def __init__(self, reuse: dict[bytes, list[bytes]] | None = None):
        self.reuse = reuse or {}

    def key(self, label: str) -> PrivateKey:
        spec = SPECS[label]
        return _ReusingKey(spec.alg, derive_key(label, spec.alg)._key, self.reuse)

    @classmethod
    def from_vectors(cls, directory: Path) -> Signer:
        reuse: dict[bytes, list[bytes]] = {}
        for path in sorted(directory.glob("*.json")):
            try:
                cose = json.loads(path.read_text("utf-8")).get("expected", {}).get("cose")
            except (ValueError, AttributeError):
                continue
            if isinstance(cose, dict):
                tbs = sig_structure(bytes.fromhex(cose["protected"]), bytes.fromhex(cose["payload"]))
                reuse.setdefault(tbs, []).append(bytes.fromhex(cose["signature"]))
        return cls(reuse)


@dataclass(frozen=True, eq=False)
class _ReusingKey(PrivateKey):
    reuse: dict[bytes, list[bytes]] = field(default_factory=dict, repr=False)

    def sign(self, data: bytes) -> bytes:
        if self.alg is not Alg.EDDSA:
            pub = self.public_key()
            for old in self.reuse.get(data, ()):
                if pub.verify(old, data):
                    return old
        return super().sign(data)


# --- building blocks for crafted payloads -----------------------------------------------------------

def protected_header(alg_id: int, kid: str, extra: dict | None = None) -> bytes:
    return cbor2.dumps({HDR_ALG: alg_id, HDR_KID: bytes.fromhex(kid), **(extra or {})}, canonical=True)


def cose_sign1(protected: bytes, body: bytes, signature: bytes, unprotected: dict | None = None) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected or {}, body, signature]), canonical=True)


def signed_cose(key: PrivateKey, body: bytes, protected: bytes | None = None, kid: str | None = None,
                alg_id: int | None = None, unprotected: dict | None = None) -> bytes:
    """COSE_Sign1 over any payload bytes, with a real signature by `key` over the Sig_structure."""
    if protected is None:
        protected = protected_header(cose_id(key.alg) if alg_id is None else alg_id, kid or key.public_key().kid)
    return cose_sign1(protected, body, key.sign(sig_structure(protected, body)), unprotected)


def cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | info]) + value.to_bytes(size, "big")
    raise ValueError(value)


class RawCbor(bytes):
    """An already encoded CBOR item, written as it is."""


def raw_map(pairs: list[tuple[Any, Any]]) -> bytes:
    """A CBOR map written pair by pair, in the order given, so it can hold what a dict cannot: a key twice."""
    def encode(item: Any) -> bytes:
        return item if isinstance(item, RawCbor) else cbor2.dumps(item, canonical=True)

    return cbor_head(5, len(pairs)) + b"".join(encode(k) + encode(v) for k, v in pairs)


def claims_map(claims: Claims) -> dict:
    return cbor2.loads(claims.to_cbor())


def zdeflate(data: bytes) -> bytes:
    """Always deflate (with the preset dictionary), whether or not it helps."""
    deflater = zlib.compressobj(9, zdict=payload.ZDICT)
    return deflater.compress(data) + deflater.flush()


def url(raw: bytes, base: str = BASE_URL) -> str:
    return qr_prefix(base) + pack(raw)


def deep(levels: int, leaf: Any = 0) -> Any:
    for _ in range(levels):
        leaf = [leaf]
    return leaf


# --- records ----------------------------------------------------------------------------------------

def realistic(seed: int, index: int, city=SHENYANG, category: Category = Category.TOWER_CRANE,
              issued_on: str | None = None) -> dict:
    return sample_record(random.Random(seed), index, city=city, category=category,
                         issued_on=date.fromisoformat(issued_on) if issued_on else None)


def minimal_record() -> dict:
    """The smallest sensible record: short fields that deflate cannot shrink, so the claims travel as CBOR."""
    issuer = issuer_json(SHENYANG)
    return {
        "registration_no": "辽A-1", "version": 1, "issuer": issuer, "issued_on": "2025-02-20", "paper": False,
        "licence_id": str(LicenceId(CRANE_TYPE_CODE, issuer["credit_code"], "7", 1)),
        "equipment": {"category": "material_hoist", "model": "SSD100", "record_no": "辽A-W-9", "factory_serial": "9"},
        "user": {"name": "甲"}, "project": {"name": "乙"},
    }


def full_licence_record() -> dict:
    """A licence id whose type code is not the crane certificate's: it cannot be implied and travels whole."""
    record = realistic(2027, 88, category=Category.GANTRY_CRANE, issued_on="2025-02-14")
    other_type = CRANE_TYPE_CODE[:18] + "998"
    record["licence_id"] = str(LicenceId(other_type, record["issuer"]["credit_code"], "2025000088", 1))
    return record


# --- the vectors ------------------------------------------------------------------------------------

@dataclass
class Vector:
    name: str
    description: str
    qr_text: str
    keys: tuple[str, ...]
    result: SignatureResult                  # the intended answer; the generator checks the library agrees
    refused_at: str | None = None            # the intended refusing stage
    record: dict | None = None
    signed_at: datetime | None = None
    construction: str = ""


class Builder:
    def __init__(self, signer: Signer, trust: TrustList):
        self.signer, self.trust = signer, trust
        self.vectors: list[Vector] = []

    def key(self, label: str) -> PrivateKey:
        return self.signer.key(label)

    def add(self, *args, **kwargs) -> Vector:
        vector = Vector(*args, **kwargs)
        self.vectors.append(vector)
        return vector

    def issued(self, name: str, description: str, record: dict, label: str, signed_at: datetime,
               result: SignatureResult = SignatureResult.VALID, base: str = BASE_URL) -> Vector:
        text = payload.issue(Record.from_json(record), self.key(label), base, signed_at)
        return self.add(name, description, text, (label,), result, record=record, signed_at=signed_at,
                        construction=f"keys.payload.issue(record, key {label!r}, {base!r}, signed_at)")

    def build(self) -> list[Vector]:
        V, M = SignatureResult, SignatureResult.MALFORMED
        ed = "issuer-210100-ed25519"

        # Positive vectors, one per algorithm, then the size and identifier variants.
        base = self.issued("valid-ed25519", "A realistic tower crane certificate of 沈阳, signed with Ed25519.",
                           realistic(2024, 456, issued_on="2025-02-26"), ed, SIGNED_AT)
        self.issued("valid-es256", "A realistic construction hoist certificate of 沈阳, signed with ES256.",
                    realistic(2025, 457, category=Category.CONSTRUCTION_HOIST, issued_on="2025-02-26"),
                    "issuer-210100-es256", SIGNED_AT)
        self.issued("valid-sm2", "A realistic material hoist certificate of 沈阳, signed with SM2/SM3 "
                    "(GB/T 32918, default user ID 1234567812345678).",
                    realistic(2026, 458, category=Category.MATERIAL_HOIST, issued_on="2025-02-26"),
                    "issuer-210100-sm2", SIGNED_AT)
        small = self.issued("valid-uncompressed", "A record so small that deflate does not shrink its claims: "
                            "the COSE payload is the claims CBOR map itself (first byte 0xA4), not a zlib stream.",
                            minimal_record(), ed, SIGNED_AT)
        assert parse_cose(b32decode(unprefix(small.qr_text))).payload[0] == 0xA4, "the small record deflated"
        assert parse_cose(b32decode(unprefix(base.qr_text))).payload[0] == 0x78, "the realistic record did not"
        self.issued("valid-full-licence-id", "A gantry crane certificate whose e-licence identifier has another "
                    "type code, so the whole identifier travels in claim 3 instead of the serial alone.",
                    full_licence_record(), ed, SIGNED_AT)
        self.issued("valid-210200-gantry-crane", "A realistic gantry crane certificate of 大连, its own issuer key.",
                    realistic(2028, 459, city=DALIAN, category=Category.GANTRY_CRANE, issued_on="2025-02-26"),
                    "issuer-210200-ed25519", SIGNED_AT)
        ed_b32 = unprefix(base.qr_text)
        self.add("valid-bare-payload", "The base32 payload alone, without the URL, is accepted too.", ed_b32,
                 (ed,), V.VALID, record=base.record, signed_at=SIGNED_AT, construction="valid-ed25519 without its URL")
        self.add("valid-lowercase-url", "A browser or scanner may lowercase scheme, host and the /v/ path; the "
                 "payload stays uppercase.", "https://verify.example.cn/v/" + ed_b32, (ed,), V.VALID,
                 record=base.record, signed_at=SIGNED_AT, construction="valid-ed25519 behind a lowercase URL")

        # Key states: judged at the signing time (iat), not at the verifier's clock.
        record = realistic(2029, 460, issued_on="2025-02-26")
        self.issued("key-retired-still-valid", "A key retired after signing: what it signed while in use stays valid.",
                    record, "issuer-210100-ed25519-retired", SIGNED_AT)
        self.issued("key-compromised-signed-before", "Signed one second before the key's compromised_at: valid.",
                    record, "issuer-210100-ed25519-compromised", COMPROMISED_AT - timedelta(seconds=1))
        self.issued("key-compromised-signed-at", "Signed exactly at compromised_at: key_revoked (at or after).",
                    record, "issuer-210100-ed25519-compromised", COMPROMISED_AT, V.KEY_REVOKED)
        self.issued("key-compromised-signed-after", "Signed a month after the key's compromise: key_revoked.",
                    record, "issuer-210100-ed25519-compromised", COMPROMISED_AT + timedelta(days=30), V.KEY_REVOKED)
        self.issued("key-retired-signed-before", "Signed one second before the key's retired_at: valid.",
                    record, "issuer-210100-ed25519-retired-at", RETIRED_AT - timedelta(seconds=1))
        self.issued("key-retired-signed-at", "Signed exactly at the key's retired_at: a retired key signs nothing "
                    "from then on: key_not_valid_at_issue.",
                    record, "issuer-210100-ed25519-retired-at", RETIRED_AT, V.KEY_NOT_VALID_AT_ISSUE)
        later = realistic(2030, 461, issued_on="2026-02-27")
        self.issued("key-not-valid-at-issue", "Signed in 2026 with a key valid for 2025 only: key_not_valid_at_issue.",
                    later, "issuer-210100-ed25519-2025-only", datetime(2026, 3, 1, 9, 30, tzinfo=CST),
                    V.KEY_NOT_VALID_AT_ISSUE)
        self.issued("signed-in-the-future", "A signing time two days past the verifier's clock is not believed "
                    "(more than one day of skew): key_not_valid_at_issue.",
                    realistic(2031, 462, issued_on="2026-11-24"), ed, VERIFY_AT + timedelta(days=2),
                    V.KEY_NOT_VALID_AT_ISSUE)

        # Keys and kids.
        self.issued("unknown-kid", "Signed by a key that no trust-list entry has: unknown_key.",
                    realistic(2032, 463, issued_on="2025-02-26"), "unlisted-ed25519", SIGNED_AT, V.UNKNOWN_KEY)
        self.issued("feed-key-not-an-issuer-key", "Signed by the status-feed key of 沈阳: a feed key may not sign "
                    "certificates, so no issuer key has this kid: unknown_key.",
                    realistic(2033, 464, issued_on="2025-02-26"), "feed-210100-ed25519", SIGNED_AT, V.UNKNOWN_KEY)
        self.issued("issuer-mismatch", "A 大连 (210200) certificate signed with a 沈阳 (210100) key: the payload's "
                    "iss must be the key's issuer: invalid.",
                    realistic(2034, 465, city=DALIAN, issued_on="2025-02-26"), ed, SIGNED_AT, V.INVALID)

        squatted = realistic(2035, 466, issued_on="2025-02-26")
        squatted["registration_no"] = "辽B-" + squatted["registration_no"].split("-", 1)[1]
        self.issued("number-outside-issuer-space", "A 沈阳 certificate, signed with a 沈阳 key, for a number in "
                    "大连's number space (辽B-): the trust list gives 沈阳 only 辽A- numbers: invalid.",
                    squatted, ed, SIGNED_AT, V.INVALID)
        self.issued("issuer-without-entry", "A 鞍山 (210300) certificate signed with a listed key whose issuer "
                    "210300 has no issuer entry in the trust list: an issuer the list does not name owns no "
                    "registration number: invalid.",
                    realistic(2037, 468, city=CITIES[2], issued_on="2025-02-26"), "issuer-210300-ed25519-no-entry",
                    SIGNED_AT, V.INVALID)
        hijack = realistic(2036, 467, issued_on="2025-02-26")
        del hijack["issuer"]["credit_code"]
        hijack["licence_id"] = str(LicenceId(CRANE_TYPE_CODE, authority_credit_code(DALIAN), "2025000467", 1))
        self.issued("licence-id-of-another-issuer", "A 沈阳 certificate, signed with a 沈阳 key, carrying an "
                    "e-licence identifier whose issuer part is 大连's credit code (the whole identifier travels "
                    "in claim 3): the identifier is not 沈阳's to give: invalid.",
                    hijack, ed, SIGNED_AT, V.INVALID)

        collision_kid = listed_kid(SPECS["issuer-210100-collision-a"])
        candidates = self.trust.keys_for(collision_kid, KeyRole.ISSUER)
        assert len(candidates) == 2
        second = next(s.label for s in KEY_SPECS if s.issuer and s.label.startswith("issuer-210100-collision")
                      and derive_key(s.label, s.alg).public_key() == candidates[1].public_key)
        claims = Claims.from_record(Record.from_json(record), SIGNED_AT)
        body = payload.deflate(claims.to_cbor())
        self.add("kid-collision-second-key-verifies",
                 f"Two trusted keys share the kid {collision_kid}; the payload is signed by the one listed second "
                 f"({second}). A verifier tries every key with the kid: valid.",
                 url(signed_cose(self.key(second), body, kid=collision_kid)), (second,), V.VALID, record=record,
                 signed_at=SIGNED_AT, construction=f"sign() by {second} with the protected header kid {collision_kid}")
        self.add("kid-collision-none-verifies",
                 f"Signed under the shared kid {collision_kid} by a key that is neither of the two: invalid.",
                 url(signed_cose(self.key("collision-stranger"), body, kid=collision_kid)), ("collision-stranger",),
                 V.INVALID, signed_at=SIGNED_AT,
                 construction=f"sign() by collision-stranger with the protected header kid {collision_kid}")

        ed_key = self.key(ed)
        ed_kid = ed_key.public_key().kid
        base_claims = Claims.from_record(Record.from_json(base.record), SIGNED_AT)
        base_cbor = base_claims.to_cbor()
        base_body = payload.deflate(base_cbor)
        base_cose = b32decode(ed_b32)
        envelope = parse_cose(base_cose)
        self.add("alg-es256-header-on-ed25519-key",
                 "The protected header says ES256 (-7) but the kid is an Ed25519 key's, and the Ed25519 key signed it. "
                 "The algorithm comes from the trust list, never from the header: invalid.",
                 url(signed_cose(ed_key, base_body, alg_id=-7)), (ed,), V.INVALID, signed_at=SIGNED_AT,
                 construction="protected {1: -7, 4: kid of issuer-210100-ed25519}, Ed25519 signature over it")
        self.add("alg-unknown-id", "The protected header names ES384 (-35), an algorithm no trusted key has: invalid.",
                 url(signed_cose(ed_key, base_body, alg_id=-35)), (ed,), V.INVALID, signed_at=SIGNED_AT,
                 construction="protected {1: -35, 4: kid of issuer-210100-ed25519}, Ed25519 signature over it")

        # Tampering: a real signature over other bytes.
        position = base_cbor.index(base.record["equipment"]["record_no"].encode()) + len(
            base.record["equipment"]["record_no"].encode()) - 1
        changed = bytearray(base_cbor)
        changed[position] = ord("0") + (changed[position] - ord("0") + 1) % 10
        self.add("tampered-payload", "One byte of a claim changed (the last digit of the equipment record number), "
                 "the claims deflated again and put back beside the original signature: invalid.",
                 url(cose_sign1(envelope.protected, payload.deflate(bytes(changed)), envelope.signature)), (ed,),
                 V.INVALID, signed_at=SIGNED_AT,
                 construction=f"valid-ed25519's claims CBOR with byte {position} changed, re-deflated, re-packed")
        flipped = bytes([envelope.signature[0] ^ 0x01]) + envelope.signature[1:]
        self.add("tampered-signature", "The lowest bit of the signature's first byte flipped: invalid.",
                 url(cose_sign1(envelope.protected, envelope.payload, flipped)), (ed,), V.INVALID,
                 signed_at=SIGNED_AT, construction="valid-ed25519 with signature[0] ^= 0x01")

        # The text and its base32.
        prefix = qr_prefix(BASE_URL)
        cut = 8 * (len(ed_b32) // 16)
        self.add("truncated-text", f"valid-ed25519 cut to {cut} base32 characters (a whole number of 5-byte "
                 "groups, so base32 accepts it): the COSE structure runs past the end.", prefix + ed_b32[:cut], (ed,),
                 M, "cose", construction=f"valid-ed25519's QR text, payload cut to its first {cut} characters")
        odd = cut + 3
        self.add("truncated-text-impossible-length", f"valid-ed25519 cut to {odd} base32 characters: no byte string "
                 "has a base32 form of that length.", prefix + ed_b32[:odd], (ed,), M, "base32",
                 construction=f"valid-ed25519's QR text, payload cut to its first {odd} characters")
        longer = base.qr_text + "A" * (MAX_TEXT + 1 - len(base.qr_text))
        self.add("over-long-text", f"A QR text of {MAX_TEXT + 1} characters, one past MAX_TEXT: refused before "
                 "any parsing.", longer, (ed,), M, "unprefix",
                 construction=f"valid-ed25519's QR text padded with 'A' to {MAX_TEXT + 1} characters")
        self.add("wrong-prefix", "A payload behind another path (/X/ instead of /V/): not one of our codes.",
                 "HTTPS://EXAMPLE.CN/X/" + ed_b32, (ed,), M, "unprefix",
                 construction="valid-ed25519's payload behind HTTPS://EXAMPLE.CN/X/")
        self.add("not-our-code", "Some other QR code's text: an answer (malformed), never an error.",
                 "https://www.example.cn/", (), M, "unprefix", construction="an ordinary web address")
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        spare_bits = 5 * len(ed_b32) - 8 * len(base_cose)
        assert spare_bits > 0, "pick a vector whose base32 form has trailing bits"
        last = alphabet[alphabet.index(ed_b32[-1]) | 1]
        self.add("non-canonical-base32", f"The last base32 character carries {spare_bits} unused bits; one of them "
                 "is set. It decodes to the same bytes, but only the canonical spelling is accepted.",
                 prefix + ed_b32[:-1] + last, (ed,), M, "base32",
                 construction=f"valid-ed25519 with its last character {ed_b32[-1]!r} replaced by {last!r}")

        # The COSE structure.
        self.add("bytes-after-cose", "A zero byte after the COSE_Sign1 structure.", url(base_cose + b"\x00"), (ed,),
                 M, "cose", construction="valid-ed25519's COSE bytes + 0x00")
        dup_header = raw_map([(HDR_ALG, cose_id(Alg.EDDSA)), (HDR_KID, bytes.fromhex(ed_kid)),
                              (HDR_KID, bytes.fromhex(ed_kid))])
        self.add("duplicate-key-header", "The protected header holds the kid label (4) twice, with the same value. "
                 "The signature over it is real; the strict reader refuses the duplicate.",
                 url(signed_cose(ed_key, base_body, protected=dup_header)), (ed,), M, "cose", signed_at=SIGNED_AT,
                 construction="protected header map {1: -8, 4: kid, 4: kid}, signed by issuer-210100-ed25519")
        header_levels = MAX_DEPTH  # the header map is depth 0, so arrays fill 1..MAX_DEPTH and the leaf is one deeper
        self.add("deep-cbor-header", f"The protected header carries an extra label (99) holding arrays nested "
                 f"{header_levels} deep, one level past MAX_DEPTH ({MAX_DEPTH}); signed, so without the limit it "
                 "would verify.",
                 url(signed_cose(ed_key, base_body, protected=protected_header(-8, ed_kid, {99: deep(header_levels)}))),
                 (ed,), M, "cose", signed_at=SIGNED_AT,
                 construction=f"protected header {{1: -8, 4: kid, 99: {header_levels} nested arrays around 0}}, signed")
        self.add("unprotected-header-not-empty", "The kid in the unprotected header as well: alg and kid belong in "
                 "the protected header only, and the unprotected map must be empty.",
                 url(cose_sign1(envelope.protected, envelope.payload, envelope.signature,
                                {HDR_KID: bytes.fromhex(ed_kid)})), (ed,), M, "cose", signed_at=SIGNED_AT,
                 construction="valid-ed25519 with unprotected header {4: kid}")

        # The payload inside a valid signature: what a trusted signer's software could get wrong.
        bomb = claims_map(base_claims)
        bomb[CERT][99] = bytes(1_000_000)
        bomb_body = zdeflate(cbor2.dumps(bomb, canonical=True))
        self.add("zlib-bomb", "Claims holding a megabyte of zeros under an unknown key, deflated to "
                 f"{len(bomb_body)} bytes and signed: refused once the stream inflates past MAX_INFLATED "
                 f"({payload.MAX_INFLATED} bytes), without inflating the rest.",
                 url(signed_cose(ed_key, bomb_body)), (ed,), M, "inflate", signed_at=SIGNED_AT,
                 construction="valid-ed25519's claims + {99: 1,000,000 zero bytes} in the certificate map, deflated "
                              "with the preset dictionary, signed by issuer-210100-ed25519")
        self.add("bytes-after-zlib", "A zero byte after the end of the signed zlib stream.",
                 url(signed_cose(ed_key, base_body + b"\x00")), (ed,), M, "inflate", signed_at=SIGNED_AT,
                 construction="valid-ed25519's deflated claims + 0x00, signed by issuer-210100-ed25519")
        self.add("zlib-without-preset-dictionary", "The claims deflated without the format's preset dictionary "
                 "(no FDICT flag, no DICTID), signed.",
                 url(signed_cose(ed_key, zlib.compress(base_cbor, 9))), (ed,), M, "inflate", signed_at=SIGNED_AT,
                 construction="zlib.compress(valid-ed25519's claims CBOR, 9), signed by issuer-210100-ed25519")
        dup = claims_map(base_claims)
        cert_pairs = [*sorted(dup.pop(CERT).items()), (Field.MODEL, "QTZ125(TC6018-10)")]
        dup_cbor = raw_map([*dup.items(), (CERT, RawCbor(raw_map(cert_pairs)))])
        self.add("duplicate-key-claims", "The certificate map states the model (key 6) twice, with two values; "
                 "a lenient reader would pick one. Signed; the strict reader refuses it.",
                 url(signed_cose(ed_key, payload.deflate(dup_cbor))), (ed,), M, "claims", signed_at=SIGNED_AT,
                 construction="valid-ed25519's claims with a second key 6 'QTZ125(TC6018-10)' in the certificate "
                              "map, deflated, signed by issuer-210100-ed25519")
        claims_levels = MAX_DEPTH - 1  # claims map 0, certificate map 1, arrays 2..MAX_DEPTH, leaf one deeper
        deep_claims = claims_map(base_claims)
        deep_claims[CERT][99] = deep(claims_levels)
        self.add("deep-cbor-claims", f"The certificate map carries an extra key (99) holding arrays nested "
                 f"{claims_levels} deep, so the innermost item sits at depth {MAX_DEPTH + 1}, one past MAX_DEPTH. "
                 "Signed; without the limit it would verify.",
                 url(signed_cose(ed_key, payload.deflate(cbor2.dumps(deep_claims, canonical=True)))), (ed,), M,
                 "claims", signed_at=SIGNED_AT,
                 construction=f"valid-ed25519's claims + {{99: {claims_levels} nested arrays around 0}} in the "
                              "certificate map, deflated, signed by issuer-210100-ed25519")
        return self.vectors


# --- running the stages -----------------------------------------------------------------------------

def stages(text: str, trust: TrustList, now: datetime) -> dict[str, Any]:
    """What keys.payload answers at each stage; the stage that refuses, and null for the stages after it."""
    out: dict[str, Any] = {"refused_at": None, "reason": None, **dict.fromkeys(STAGES)}
    verification = verify_at(text, trust, now)
    out["answer"] = verification.signature().to_json()

    def refuse(stage: str, exc: Exception) -> dict[str, Any]:
        out["refused_at"], out["reason"] = stage, str(exc)
        out["signature"] = verification.result.value
        return out

    try:
        b32 = out["unprefix"] = unprefix(text)
    except Malformed as exc:
        return refuse("unprefix", exc)
    try:
        raw = b32decode(b32)
    except Malformed as exc:
        return refuse("base32", exc)
    out["base32"] = raw.hex()
    try:
        env = parse_cose(raw)
    except Malformed as exc:
        return refuse("cose", exc)
    out["cose"] = {"alg": env.alg_id, "kid": env.kid, "protected": env.protected.hex(), "payload": env.payload.hex(),
                   "signature": env.signature.hex()}
    out["signature"] = verification.result.value
    # The verifier inflates and reads the claims only once a trusted key's signature has verified.
    if verification.claims is None and verification.result is not SignatureResult.MALFORMED:
        out["reason"] = verification.reason or None
        return out
    try:
        claims_cbor = inflate(env.payload)
    except Malformed as exc:
        return refuse("inflate", exc)
    out["inflate"] = claims_cbor.hex()
    try:
        claims = Claims.from_cbor(env.payload)
    except Malformed as exc:
        return refuse("claims", exc)
    assert claims == verification.claims
    out["claims"] = claims.certificate(verification.issuer)
    out["reason"] = verification.reason or None
    return out


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def vector_doc(vector: Vector, trust: TrustList, trust_sha256: str) -> dict[str, Any]:
    expected = stages(vector.qr_text, trust, VERIFY_AT)
    if expected["signature"] != vector.result.value or expected["refused_at"] != vector.refused_at:
        raise AssertionError(f"{vector.name}: intended {vector.result.value} refused at {vector.refused_at}, "
                             f"the library answers {expected['signature']} refused at {expected['refused_at']}"
                             f" ({expected['reason']})")
    ordered = {"refused_at": expected["refused_at"], "reason": expected["reason"],
               **{s: expected[s] for s in STAGES}, "answer": expected["answer"]}
    return {
        "vector_format": VECTOR_FORMAT,
        "name": vector.name,
        "description": vector.description,
        "construction": vector.construction,
        "deterministic": all(SPECS[k].alg is Alg.EDDSA for k in vector.keys),
        "keys": [key_doc(SPECS[label]) for label in vector.keys],
        "root": key_doc(ROOT),
        "root_public_key": key_doc(ROOT)["public_key"],
        "trust_list": {"file": TRUST_LIST_FILE, "sha256": trust_sha256},
        "verify_at": _iso(VERIFY_AT),
        "signed_at": _iso(vector.signed_at),
        "record": vector.record,
        "qr_text": vector.qr_text,
        "expected": ordered,
    }


def rotation_doc() -> dict[str, Any]:
    old, new = derive_key(ROOT.label, ROOT.alg), derive_key(NEXT_ROOT.label, NEXT_ROOT.alg)
    rotated = replace(trust_list(), root=new.public_key(), serial=2, issued_at=datetime(2027, 1, 1, 9, tzinfo=CST))
    return {
        "vector_format": VECTOR_FORMAT,
        "name": "trust-list-root-rotation",
        "description": "Root rotation by cross-signature: list 2 names the new root root-2027 and is signed by it "
                       "and by the old root root-2026. A verifier pinned to root-2026 accepts it (and then pins "
                       "root-2027); the same list signed by the new root alone is refused by that verifier.",
        "deterministic": True,
        "keys": [key_doc(ROOT), key_doc(NEXT_ROOT)],
        "pinned_root_public_key": key_doc(ROOT)["public_key"],
        "cross_signed": SignedTrustList.sign(rotated, new, old).to_json(),
        "cross_signed_expected": "accepted",
        "new_root_only": SignedTrustList.sign(rotated, new).to_json(),
        "new_root_only_expected": "refused",
    }


def categories_doc() -> dict[str, Any]:
    return {"vector_format": VECTOR_FORMAT,
            "description": "The equipment category codes the signed payload carries (claim 5 of the certificate "
                           "map). A code, once given, keeps its category for good; a new category takes the next "
                           "unused code.",
            "categories": [{"code": code, "category": category.value, "zh": category.zh}
                           for category, code in sorted(CATEGORY_CODES.items(), key=lambda item: item[1])]}


def dump(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


def generate(signer: Signer | None = None) -> dict[str, bytes]:
    """Every file of the vector folder, name -> bytes."""
    trust = trust_list()
    root = derive_key(ROOT.label, ROOT.alg)
    trust_bytes = SignedTrustList.sign(trust, root).dumps()
    assert SignedTrustList.loads(trust_bytes).verify(root.public_key()).body() == trust.body()
    trust_sha256 = hashlib.sha256(trust_bytes).hexdigest()
    vectors = Builder(signer or Signer(), trust).build()
    names = [v.name for v in vectors]
    assert len(set(names)) == len(names), "vector names must be unique"
    files = {TRUST_LIST_FILE: trust_bytes, ROTATION_FILE: dump(rotation_doc()),
             KEYS_FILE: dump({"test_only": True,
                              "warning": "Test-only keys, derived from their published labels: anyone can sign "
                                         "with them. Never trust them outside tests.",
                              "label_prefix": KEY_LABEL_PREFIX.decode(),
                              "keys": [key_doc(s) for s in (ROOT, NEXT_ROOT, *KEY_SPECS)]})}
    # Imported here: the verdict cases are built from this module's keys, records and times.
    from .verdict_vectors import VERDICTS_FILE, verdicts_doc

    files[VERDICTS_FILE] = dump(verdicts_doc(sys.modules[__name__], trust, trust_sha256, key_doc(ROOT)["public_key"]))
    files[CATEGORIES_FILE] = dump(categories_doc())
    files[FEED_PAGES_FILE] = dump(feed_pages_doc(sys.modules[__name__]))
    files[FEED_KEYS_FILE] = dump(feed_keys_doc(sys.modules[__name__]))
    files[MERGE_FILE] = dump(merge_doc(sys.modules[__name__]))
    index = []
    for vector in vectors:
        doc = vector_doc(vector, trust, trust_sha256)
        files[f"{vector.name}.json"] = dump(doc)
        index.append({"file": f"{vector.name}.json", "signature": doc["expected"]["signature"],
                      "refused_at": doc["expected"]["refused_at"], "deterministic": doc["deterministic"]})
    files[INDEX_FILE] = dump({"vector_format": VECTOR_FORMAT, "trust_list": TRUST_LIST_FILE, "keys": KEYS_FILE,
                              "stages": list(STAGES), "vectors": index, "trust_list_vectors": [ROTATION_FILE],
                              "verdict_vectors": VERDICTS_FILE, "categories": CATEGORIES_FILE,
                              "feed_page_vectors": FEED_PAGES_FILE, "feed_key_vectors": FEED_KEYS_FILE,
                              "merge_vectors": MERGE_FILE})
    return files


def write(out_dir: Path = OUT_DIR, fresh: bool = False) -> dict[str, bytes]:
    signer = Signer() if fresh or not out_dir.is_dir() else Signer.from_vectors(out_dir)
    files = generate(signer)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    for name, data in files.items():
        path = out_dir / name
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    return files


# --- sizes ------------------------------------------------------------------------------------------

def measure_sizes(records_per_alg: int = 400, base: str = BASE_URL) -> dict[str, dict[str, Any]]:
    """QR versions at error correction M for realistic records, every category, per algorithm."""
    import segno

    signed_at = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    out = {}
    for alg in Alg:
        key = derive_key(f"sizes-{alg.value}", alg)
        rng = random.Random(20261124)
        versions: Counter[int] = Counter()
        lengths, compressed = [], 0
        for i in range(records_per_alg):
            category = list(Category)[i % len(Category)]
            record = Record.from_json(sample_record(rng, i + 1, category=category))
            text = payload.issue(record, key, base, signed_at)
            qr = segno.make_qr(text, error="m", boost_error=False)
            assert qr.mode == "alphanumeric", qr.mode
            versions[qr.version] += 1
            lengths.append(len(text))
            compressed += parse_cose(b32decode(unprefix(text))).payload[0] == 0x78
        out[alg.value] = {"records": records_per_alg, "versions": dict(sorted(versions.items())),
                          "max_version": max(versions), "typical_version": versions.most_common(1)[0][0],
                          "text_min": min(lengths), "text_median": statistics.median(lengths),
                          "text_max": max(lengths), "claims_deflated": compressed}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.keys.vectors", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder to write (default docs/test-vectors)")
    parser.add_argument("--fresh", action="store_true", help="sign ES256/SM2 anew instead of reusing signatures")
    parser.add_argument("--sizes", action="store_true", help="measure QR versions instead of writing vectors")
    args = parser.parse_args(argv)
    if args.sizes:
        print(f"QR version at error correction M, base URL {BASE_URL}")
        for alg, row in measure_sizes().items():
            print(f"{alg:6} {row}")
        return 0
    files = write(args.out, args.fresh)
    index = json.loads(files[INDEX_FILE])
    for entry in index["vectors"]:
        print(f"{entry['file']:42} {entry['signature']:24} {entry['refused_at'] or ''}")
    print(f"{len(files)} files in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
