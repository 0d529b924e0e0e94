"""Every test vector in docs/test-vectors/, stage by stage, through keys.payload.

The checks here are independent of the generator where they can be: keys are derived again from the
published rule, signatures of the three algorithm vectors are checked with a hand-built Sig_structure
(Ed25519 and P-256 with pyca/cryptography, SM2 with gmssl), and regenerating reproduces the files.
"""

import base64
import hashlib
import json
from datetime import datetime

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key
from gmssl import sm2
from tongsuopy.crypto.asymciphers import ec as gm_ec

from keys import payload
from keys.algorithms import Alg, PublicKey
from keys.answer import Answer, SignatureResult, State
from keys.errors import TrustListError
from keys.payload import Claims, Malformed, b32decode, inflate, parse_cose, unprefix, verify_at
from keys.record import CATEGORY_CODES, Category, Record
from keys.trustlist import SignedTrustList
from keys.verdict import answer_code
from tests.scanner.merge_vectors import MERGE_FILE

from . import vectors
from .feed_key_vectors import FEED_KEYS_FILE
from .feed_vectors import FEED_PAGES_FILE
from .verdict_vectors import VERDICTS_FILE, VectorRegistry

DIR = vectors.OUT_DIR
STAGES = ("unprefix", "base32", "cose", "signature", "inflate", "claims")
SUPPORT_FILES = {vectors.TRUST_LIST_FILE, vectors.KEYS_FILE, vectors.INDEX_FILE, vectors.ROTATION_FILE,
                 VERDICTS_FILE, vectors.CATEGORIES_FILE, FEED_PAGES_FILE, FEED_KEYS_FILE, MERGE_FILE}
QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def _load(name: str) -> dict:
    return json.loads((DIR / name).read_text("utf-8"))


INDEX = _load(vectors.INDEX_FILE)
NAMES = [entry["file"] for entry in INDEX["vectors"]]
WITH_RECORD = [name for name in NAMES if _load(name)["record"] is not None]


def _trust_for(vector: dict):
    data = (DIR / vector["trust_list"]["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == vector["trust_list"]["sha256"]
    root = PublicKey.from_spki(base64.b64decode(vector["root_public_key"]))
    return SignedTrustList.loads(data).verify(root)


def test_the_index_names_every_vector_file():
    on_disk = {p.name for p in DIR.glob("*.json")} - SUPPORT_FILES
    assert set(NAMES) == on_disk
    assert INDEX["stages"] == list(STAGES)
    assert len(NAMES) >= 30


def test_no_private_key_is_stored():
    for path in DIR.iterdir():
        text = path.read_text("utf-8")
        assert "PRIVATE KEY" not in text and '"private' not in text.lower(), path.name


# --- keys -------------------------------------------------------------------------------------------

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


def _derive_public_spki(label: str, alg: str, prefix: bytes) -> bytes:
    """The published derivation, written again from its description rather than taken from the generator."""
    from cryptography.hazmat.primitives import serialization
    from tongsuopy.crypto import serialization as gm_serialization

    digest = hashlib.sha256(prefix + label.encode("utf-8")).digest()
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.from_private_bytes(digest).public_key().public_bytes(der, spki)
    scalar = int.from_bytes(digest, "big")
    if alg == "ES256":
        key = ec.derive_private_key(scalar % (P256_N - 1) + 1, ec.SECP256R1())
        return key.public_key().public_bytes(der, spki)
    key = gm_ec.derive_private_key(scalar % (SM2_N - 1) + 1, gm_ec.SM2())
    return key.public_key().public_bytes(gm_serialization.Encoding.DER,
                                         gm_serialization.PublicFormat.SubjectPublicKeyInfo)


def test_every_test_key_derives_from_its_label():
    doc = _load(vectors.KEYS_FILE)
    assert doc["test_only"] is True
    prefix = doc["label_prefix"].encode("utf-8")
    assert {k["alg"] for k in doc["keys"]} == {a.value for a in Alg}
    for key in doc["keys"]:
        assert key["test_only"] is True and key["derivation"].startswith("sha256(")
        spki = _derive_public_spki(key["label"], key["alg"], prefix)
        assert base64.b64encode(spki).decode() == key["public_key"], key["label"]
        assert hashlib.sha256(spki).hexdigest()[:16] == key["kid"]
        assert PublicKey.from_spki(spki).alg.value == key["alg"]


@pytest.mark.parametrize("name", NAMES)
def test_vector_keys_are_the_published_test_keys(name):
    published = {k["label"]: k for k in _load(vectors.KEYS_FILE)["keys"]}
    vector = _load(name)
    for key in [*vector["keys"], vector["root"]]:
        assert key == published[key["label"]]
    assert vector["root_public_key"] == vector["root"]["public_key"]
    assert vector["deterministic"] == all(k["alg"] == "EdDSA" for k in vector["keys"])


def test_the_trust_list_verifies_against_its_root_only():
    vector = _load(NAMES[0])
    trust = _trust_for(vector)
    assert trust.root.kid == vector["root"]["kid"]
    listed = {k.public_key.spki for k in trust.keys}
    for key in _load(vectors.KEYS_FILE)["keys"]:
        if key["listed_kid"]:
            assert base64.b64decode(key["public_key"]) in listed
    other = PublicKey.from_spki(base64.b64decode(
        next(k for k in _load(vectors.KEYS_FILE)["keys"] if k["label"] == "unlisted-ed25519")["public_key"]))
    with pytest.raises(TrustListError):
        SignedTrustList.loads((DIR / vectors.TRUST_LIST_FILE).read_bytes()).verify(other)


def test_root_rotation_by_cross_signature():
    doc = _load(vectors.ROTATION_FILE)
    pinned = PublicKey.from_spki(base64.b64decode(doc["pinned_root_public_key"]))
    new_root = PublicKey.from_spki(base64.b64decode(doc["keys"][1]["public_key"]))
    assert doc["cross_signed_expected"] == "accepted" and doc["new_root_only_expected"] == "refused"
    accepted = SignedTrustList.loads(json.dumps(doc["cross_signed"])).verify(pinned)
    assert accepted.root == new_root and accepted.serial == 2
    assert SignedTrustList.loads(json.dumps(doc["cross_signed"])).verify(new_root).root == new_root
    with pytest.raises(TrustListError, match="pinned root"):
        SignedTrustList.loads(json.dumps(doc["new_root_only"])).verify(pinned)


# --- the stages -------------------------------------------------------------------------------------

class _Refused(Exception):
    pass


def _stage(expected: dict, stage: str, run):
    """Run one stage: the refusing stage must raise Malformed with the stated reason, the others succeed."""
    if expected["refused_at"] == stage:
        with pytest.raises(Malformed) as info:
            run()
        assert str(info.value) == expected["reason"]
        for later in STAGES[STAGES.index(stage) + 1:]:
            if later != "signature":
                assert expected[later] is None, later
        raise _Refused
    return run()


@pytest.mark.parametrize("name", NAMES)
def test_vector(name):
    vector = _load(name)
    expected = vector["expected"]
    text = vector["qr_text"]
    trust = _trust_for(vector)
    now = datetime.fromisoformat(vector["verify_at"])
    assert now.tzinfo is not None

    verification = verify_at(text, trust, now)
    assert verification.result.value == expected["signature"]
    assert verification.signature().to_json() == expected["answer"]
    assert verification.reason == (expected["reason"] or "")
    if expected["refused_at"] is not None:
        assert expected["refused_at"] in STAGES and expected["refused_at"] != "signature"
        assert verification.result is SignatureResult.MALFORMED

    try:
        b32 = _stage(expected, "unprefix", lambda: unprefix(text))
        assert b32 == expected["unprefix"]
        raw = _stage(expected, "base32", lambda: b32decode(b32))
        assert raw.hex() == expected["base32"]
        envelope = _stage(expected, "cose", lambda: parse_cose(raw))
        assert {"alg": envelope.alg_id, "kid": envelope.kid, "protected": envelope.protected.hex(),
                "payload": envelope.payload.hex(), "signature": envelope.signature.hex()} == expected["cose"]
        assert cbor2.loads(envelope.protected) == {1: envelope.alg_id, 4: bytes.fromhex(envelope.kid)}
        if expected["inflate"] is None and expected["refused_at"] not in ("inflate", "claims"):
            # The verifier stops at the signature: it reads no claims that no trusted key signed.
            assert verification.claims is None and expected["claims"] is None
            assert verification.result is not SignatureResult.VALID
            return
        claims_cbor = _stage(expected, "inflate", lambda: inflate(envelope.payload))
        assert claims_cbor.hex() == expected["inflate"]
        claims = _stage(expected, "claims", lambda: Claims.from_cbor(envelope.payload))
    except _Refused:
        assert verification.claims is None
        return
    assert verification.claims == claims
    assert claims.certificate(verification.issuer) == expected["claims"]


@pytest.mark.parametrize("name", WITH_RECORD)
def test_records_give_the_signed_claims(name):
    vector = _load(name)
    record = Record.from_json(vector["record"])
    claims = Claims.from_record(record, datetime.fromisoformat(vector["signed_at"]))
    envelope = payload.decode(vector["qr_text"])
    assert inflate(envelope.payload) == claims.to_cbor()
    assert vector["expected"]["inflate"] in (None, claims.to_cbor().hex())  # null where no claims are read
    assert payload.deflate(claims.to_cbor()) == envelope.payload
    assert Claims.from_cbor(envelope.payload).differences(record) == []


def _sig_structure(protected: bytes, body: bytes) -> bytes:
    """RFC 9052 Sig_structure for COSE_Sign1, written byte by byte: array(4), "Signature1", bstrs."""
    def bstr(data: bytes) -> bytes:
        assert len(data) < 65536
        head = bytes([0x40 | len(data)]) if len(data) < 24 else (
            bytes([0x58, len(data)]) if len(data) < 256 else bytes([0x59]) + len(data).to_bytes(2, "big"))
        return head + data

    return b"\x84" + b"\x6aSignature1" + bstr(protected) + bstr(b"") + bstr(body)


@pytest.mark.parametrize("name, alg", [("valid-ed25519.json", "EdDSA"), ("valid-es256.json", "ES256"),
                                       ("valid-sm2.json", "SM2")])
def test_algorithm_vectors_verify_independently(name, alg):
    vector = _load(name)
    cose = vector["expected"]["cose"]
    assert cose["alg"] == {"EdDSA": -8, "ES256": -7, "SM2": -65601}[alg]
    protected, body, sig = (bytes.fromhex(cose[k]) for k in ("protected", "payload", "signature"))
    tbs = _sig_structure(protected, body)
    assert tbs == payload.sig_structure(protected, body)
    spki = base64.b64decode(vector["keys"][0]["public_key"])
    assert len(sig) == 64
    if alg == "EdDSA":
        load_der_public_key(spki).verify(sig, tbs)
    elif alg == "ES256":
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        load_der_public_key(spki).verify(der, tbs, ec.ECDSA(hashes.SHA256()))
    else:
        assert spki[-65] == 0x04  # uncompressed point x || y at the end of the SPKI
        gm = sm2.CryptSM2(private_key=None, public_key=spki[-64:].hex())
        assert gm.verify_with_sm3(sig.hex(), tbs)  # SM3 over Z_A(ID 1234567812345678) || M
        assert not gm.verify_with_sm3(sig.hex(), tbs + b"x")


def test_every_answer_and_refusing_stage_is_covered():
    results = {entry["signature"] for entry in INDEX["vectors"]}
    assert results == {r.value for r in SignatureResult} - {"not_applicable"}
    refused = {entry["refused_at"] for entry in INDEX["vectors"]} - {None}
    assert refused == set(STAGES) - {"signature"}


@pytest.mark.parametrize("name", NAMES)
def test_uppercase_urls_are_qr_alphanumeric(name):
    text = _load(name)["qr_text"]
    if text.startswith("HTTPS://VERIFY.EXAMPLE.CN/V/") and len(text) <= payload.MAX_TEXT:
        assert set(text) <= QR_ALPHANUMERIC


# --- regeneration -----------------------------------------------------------------------------------

def _on_disk() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in DIR.glob("*.json")}


def test_regeneration_reproduces_the_ed25519_vectors_byte_for_byte():
    fresh = vectors.generate(vectors.Signer())  # no signature reused: ES256 and SM2 are signed anew
    disk = _on_disk()
    assert set(fresh) == set(disk)
    deterministic = {e["file"] for e in INDEX["vectors"] if e["deterministic"]} | SUPPORT_FILES
    assert "valid-ed25519.json" in deterministic and len(deterministic) > len(NAMES) - 3
    for name in sorted(deterministic):
        assert fresh[name] == disk[name], f"{name} differs: run python -m tests.keys.vectors"
    for name in sorted(set(disk) - deterministic):  # randomised signatures: same vector, other signature bytes
        a, b = json.loads(fresh[name]), json.loads(disk[name])
        assert a["expected"]["signature"] == b["expected"]["signature"] == "valid"
        assert a["expected"]["inflate"] == b["expected"]["inflate"]


def test_regeneration_reusing_stored_signatures_reproduces_every_file():
    assert vectors.generate(vectors.Signer.from_vectors(DIR)) == _on_disk()


# --- category codes ---------------------------------------------------------------------------------

# Written out here, not derived: QR codes already printed carry these numbers.
PRINTED_CATEGORY_CODES = {1: "tower_crane", 2: "construction_hoist", 3: "material_hoist", 4: "gantry_crane"}


def test_category_codes_never_move():
    assert {code: category.value for category, code in CATEGORY_CODES.items()} == PRINTED_CATEGORY_CODES
    assert {Category.from_code(code).value for code in PRINTED_CATEGORY_CODES} == set(Category)
    assert all(Category(name).code == code for code, name in PRINTED_CATEGORY_CODES.items())
    published = _load(vectors.CATEGORIES_FILE)["categories"]
    assert {c["code"]: c["category"] for c in published} == PRINTED_CATEGORY_CODES
    assert {c["category"]: c["zh"] for c in published} == {c.value: c.zh for c in Category}
    for unknown in (0, 5, -1, True):
        with pytest.raises(ValueError):
            Category.from_code(unknown)


# --- verdicts -----------------------------------------------------------------------------------------

VERDICTS = _load(VERDICTS_FILE)
CASES = {case["name"]: case for case in VERDICTS["cases"]}


def test_verdict_cases_cover_every_signature_result_and_state_online_and_offline():
    for mode in ("online", "offline"):
        cases = [c for c in CASES.values() if c["mode"] == mode]
        assert {c["expected"]["signature"] for c in cases} == {r.value for r in SignatureResult}, mode
        # Offline data keeps no payloads, so no offline case can find a paper certificate for a code.
        states = {s.value for s in State} - ({State.PAPER_LEGACY.value} if mode == "offline" else set())
        assert {c["expected"]["state"] for c in cases} == states, mode
    assert {c["expected"]["ok"] for c in CASES.values()} == {True, False}


def test_verdict_cases_use_the_vector_trust_list():
    data = (DIR / VERDICTS["trust_list"]["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == VERDICTS["trust_list"]["sha256"]
    assert VERDICTS["root_public_key"] == _load(vectors.KEYS_FILE)["keys"][0]["public_key"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdict_case(name):
    case = CASES[name]
    trust = SignedTrustList.loads((DIR / VERDICTS["trust_list"]["file"]).read_bytes()).verify(
        PublicKey.from_spki(base64.b64decode(VERDICTS["root_public_key"])))
    answer = answer_code(case["qr_text"], trust, VectorRegistry(case["registry"]), datetime.fromisoformat(case["now"]))
    body = answer.to_json()
    expected = case["expected"]
    assert (body["signature"]["result"], body["status"]["state"], body["verdict"]["ok"]) == \
        (expected["signature"], expected["state"], expected["ok"])
    assert body["verdict"] == expected["verdict"]
    assert body == expected["answer"]
    # The scanner reads the service's answers back: every expected answer parses to itself.
    assert Answer.from_json(expected["answer"]).to_json() == expected["answer"]
