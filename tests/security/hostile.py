"""Hostile QR texts, built stage by stage: what an attacker can put in a code, signed or not.

`sign_raw` makes a COSE_Sign1 over any payload bytes with a trusted key, so damaged or malicious claims
get past the signature check and reach the claims parser, the inflater and the CBOR reader, the parts an
unsigned text never reaches.
"""

from __future__ import annotations

import random
import zlib

import cbor2

from keys import cbor
from keys.algorithms import PrivateKey, cose_id
from keys.payload import (
    CERT,
    CTI,
    HDR_ALG,
    HDR_KID,
    IAT,
    ISS,
    MAX_TEXT,
    Claims,
    b32decode,
    deflate,
    pack,
    sig_structure,
    unprefix,
)
from keys.record import Record
from keys.zdict import ZDICT

PREFIX = "HTTPS://VERIFY.EXAMPLE.CN/V/"
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def protected_header(key: PrivateKey, **extra) -> bytes:
    header = {HDR_ALG: cose_id(key.alg), HDR_KID: bytes.fromhex(key.public_key().kid), **extra}
    return cbor2.dumps(header, canonical=True)


def sign_raw(payload: bytes, key: PrivateKey, protected: bytes | None = None, unprotected: dict | None = None) -> bytes:
    protected = protected_header(key) if protected is None else protected
    signature = key.sign(sig_structure(protected, payload))
    return cbor2.dumps(cbor2.CBORTag(cbor.COSE_SIGN1_TAG, [protected, unprotected or {}, payload, signature]))


def text_of(cose: bytes) -> str:
    return PREFIX + pack(cose)


def cose_of(text: str) -> bytes:
    return b32decode(unprefix(text))


def claims_map(record: dict, signed_at) -> dict:
    return cbor2.loads(Claims.from_record(Record.from_json(record), signed_at).to_cbor())


# --- the classic attacks ------------------------------------------------------------------------------

def zlib_bomb(key: PrivateKey) -> str:
    """A signed payload whose claims inflate (with the format's dictionary) to far more than the limit."""
    size = 1 << 20
    while True:
        deflater = zlib.compressobj(9, zdict=ZDICT)
        bomb = deflater.compress(b"\x00" * size) + deflater.flush()
        text = text_of(sign_raw(bomb, key))
        if len(text) <= MAX_TEXT:
            return text
        size //= 2


def deep_cbor(depth: int = 1200) -> str:
    """A tagged COSE_Sign1 whose first member is nested `depth` arrays deep (no signature needed)."""
    return text_of(bytes([0xD2]) + b"\x81" * depth + b"\x00")


def deep_signed_claims(key: PrivateKey, depth: int = 200) -> str:
    nested: object = 0
    for _ in range(depth):
        nested = [nested]
    return text_of(sign_raw(cbor2.dumps({ISS: "210100", IAT: 1_750_000_000, CTI: b"x", CERT: nested}), key))


def invalid_utf8_claims(key: PrivateKey, record: dict, signed_at) -> str:
    """Signed claims whose text strings are not UTF-8 (cbor2 would write them; our reader refuses)."""
    raw = cbor2.dumps(claims_map(record, signed_at), canonical=True)
    issuer = cbor2.dumps("210100")
    broken = raw.replace(issuer, bytes([issuer[0]]) + b"\xff\xfe\x00\xc0\x80\xed", 1)
    return text_of(sign_raw(broken, key))


def duplicate_key_claims(key: PrivateKey, record: dict, signed_at) -> str:
    claims = claims_map(record, signed_at)
    raw = cbor2.dumps(claims, canonical=True)
    # one more ISS entry at the end: the map head says n+1 entries
    head = raw[0]
    return text_of(sign_raw(bytes([head + 1]) + raw[1:] + cbor2.dumps(ISS) + cbor2.dumps("210200"), key))


# --- mutations for fuzzing ----------------------------------------------------------------------------

def mutate_text(rng: random.Random, text: str) -> str:
    """1-4 character-level edits of the base32 part of a QR URL (the prefix is not what is signed)."""
    prefix, _, payload = text.rpartition("/")
    chars = list(payload)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        at = rng.randrange(len(chars)) if chars else 0
        pool = BASE32 if rng.random() < 0.8 else "abcxyz01890=+/-_ \x00\u00e9\u4e2d\U0001f600\ud800"
        if op == 0 and chars:
            chars[at] = rng.choice(pool)
        elif op == 1:
            chars.insert(at, rng.choice(pool))
        elif op == 2 and chars:
            del chars[at]
        elif op == 3 and len(chars) > 2:
            j = rng.randrange(len(chars))
            chars[at], chars[j] = chars[j], chars[at]
        elif op == 4:
            del chars[rng.randrange(len(chars) + 1):]
        elif op == 5 and chars:
            piece = chars[at:at + rng.randint(1, 16)]
            chars[at:at] = piece
        else:
            chars = [c.lower() if rng.random() < 0.1 else c for c in chars]
    return prefix + "/" + "".join(chars)


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(out)) if out else 0
        if op == 0 and out:
            out[at] ^= 1 << rng.randrange(8)
        elif op == 1 and out:
            out[at] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x18, 0x19, 0x1A, 0x1B, 0x1F, 0x9F, 0xBF, 0xD2, 0xF6))
        elif op == 2:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and out:
            del out[at:at + rng.randint(1, 8)]
        elif op == 4:
            del out[rng.randrange(len(out) + 1):]
        else:
            out += bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    return bytes(out)


def random_cbor_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(12 if depth < 8 else 8)
    if kind == 0:
        return rng.choice((0, 1, -1, 23, 24, 255, 256, 2**31, 2**63 - 1, -(2**63), 2**64 - 1, 10**30))
    if kind == 1:
        return "".join(rng.choice("AZ09辽-#\x00\u202e ") for _ in range(rng.randrange(12)))
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
    if kind == 3:
        return rng.choice((True, False, None))
    if kind == 4:
        return rng.choice((0.5, float("nan"), float("inf"), -0.0))
    if kind == 5:
        return cbor2.CBORTag(rng.choice((0, 1, 18, 24, 55799, 2**20)), random_cbor_value(rng, depth + 1))
    if kind in (6, 7):
        return rng.randrange(-2**40, 2**40)
    if kind in (8, 9):
        return [random_cbor_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [rng.choice((ISS, IAT, CTI, CERT, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, -1, "x"))
            for _ in range(rng.randrange(5))]
    return {k: random_cbor_value(rng, depth + 1) for k in keys}


def hostile_claims(rng: random.Random, record: dict, signed_at) -> bytes:
    """Claims bytes for a trusted key to sign: well-formed maps with wrong values, or garbage."""
    choice = rng.randrange(5)
    if choice == 0:
        return cbor2.dumps(random_cbor_value(rng))
    claims = claims_map(record, signed_at)
    if choice == 1:   # one top-level claim replaced
        claims[rng.choice((ISS, IAT, CTI, CERT, 99))] = random_cbor_value(rng)
        raw = cbor2.dumps(claims)
    elif choice == 2:  # one certificate field replaced or dropped
        cert = dict(claims[CERT])
        field = rng.randrange(0, 13)
        if rng.random() < 0.3:
            cert.pop(field, None)
        else:
            cert[field] = random_cbor_value(rng)
        claims[CERT] = cert
        raw = cbor2.dumps(claims)
    else:              # byte-level damage of good claims
        raw = mutate_bytes(rng, cbor2.dumps(claims, canonical=True))
    if rng.random() < 0.5:
        raw = deflate(raw)
        if rng.random() < 0.3:
            raw = mutate_bytes(rng, raw)
    return raw


def random_text(rng: random.Random) -> str:
    kind = rng.randrange(6)
    length = rng.choice((0, 1, 5, 16, 40, 100, 300, 1000, 2047, 2048, 2049, 5000))
    if kind == 0:
        return "".join(rng.choice(BASE32) for _ in range(length))
    if kind == 1:
        return PREFIX + "".join(rng.choice(BASE32) for _ in range(length))
    if kind == 2:
        return "".join(chr(rng.randrange(32, 127)) for _ in range(length))
    if kind == 3:
        return "".join(chr(rng.choice((rng.randrange(0, 0x80), rng.randrange(0x80, 0xD800),
                                       rng.randrange(0xD800, 0xE000), rng.randrange(0xE000, 0x110000))))
                       for _ in range(min(length, 300)))
    if kind == 4:   # e-licence identifiers and URLs carrying them, mostly with wrong check characters
        tail = "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.") for _ in range(rng.randrange(10, 130)))
        text = "1.2.156.3005.2." + tail
        return rng.choice((text, f"https://zwfw.example.gov.cn/verify?id={text}", text + "\x00"))
    return rng.choice(("https://", "HTTPS://X/V/", "http://a/v/", "HTTPS://VERIFY.EXAMPLE.CN/V/",
                       "\x00" * length, " " * length, "\u202e" + PREFIX, PREFIX.lower() + "AAAA" * 20))
