import base64
import random
import zlib
from dataclasses import replace
from datetime import timedelta

import cbor2
import pytest
import segno
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys import payload
from keys.algorithms import Alg, PrivateKey
from keys.answer import SignatureResult
from keys.payload import MAX_TEXT, Claims, Malformed, decode, issue, pack, sign, verify_at
from keys.record import Category, Record
from keys.samples import CITIES, sample_record
from keys.trustlist import KeyState, TrustedIssuer, TrustedKey

from .conftest import NOW, SIGNED

BASE = "https://verify.example.cn"


@pytest.mark.parametrize("alg", list(Alg))
def test_issue_and_verify_round_trip(world, record, alg):
    text = issue(record, world.key(alg), BASE, SIGNED)
    assert text.startswith("HTTPS://VERIFY.EXAMPLE.CN/V/")
    result = verify_at(text, world.trust, NOW)
    assert result.result is SignatureResult.VALID, result.reason
    assert result.alg is alg and result.issuer.code == "210100"
    claims = result.claims
    assert claims.registration_no == record.registration_no
    assert claims.signed_at == SIGNED
    assert claims.differences(record) == []
    assert claims.licence_id(result.issuer) == record.licence_id
    cert = claims.certificate(result.issuer)
    assert cert["equipment"]["record_no"] == record.equipment.record_no
    assert cert["project"]["name"] == record.project.name


def test_the_bare_payload_and_lowercase_path_resolve_too(world, record):
    text = issue(record, world.key(), BASE, SIGNED)
    bare = text.rsplit("/", 1)[1]
    assert verify_at(bare, world.trust, NOW).valid
    assert verify_at(text.replace("/V/", "/v/"), world.trust, NOW).valid
    assert verify_at("https://other.host.cn/V/" + bare, world.trust, NOW).valid  # the signature decides


def test_every_single_character_change_is_refused(world, record):
    text = issue(record, world.key(), BASE, SIGNED)
    start = text.index("/V/") + 3
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    rng = random.Random(1)
    for position in range(start, len(text)):
        replacement = rng.choice(alphabet.replace(text[position], ""))
        changed = text[:position] + replacement + text[position + 1:]
        result = verify_at(changed, world.trust, NOW)
        assert result.result in (SignatureResult.INVALID, SignatureResult.MALFORMED,
                                 SignatureResult.UNKNOWN_KEY), (position, result)


def test_unknown_key_and_foreign_issuer(world, record):
    stranger = PrivateKey.generate()
    assert verify_at(issue(record, stranger, BASE, SIGNED), world.trust, NOW).result is SignatureResult.UNKNOWN_KEY
    # A trusted key of 沈阳 may not sign for 大连.
    dalian = replace(record, issuer=replace(record.issuer, code=CITIES[1].code))
    result = verify_at(issue(dalian, world.key(), BASE, SIGNED), world.trust, NOW)
    assert result.result is SignatureResult.INVALID


def test_the_feed_key_cannot_sign_certificates(world, record):
    text = issue(record, world.feed_key, BASE, SIGNED)
    assert verify_at(text, world.trust, NOW).result is SignatureResult.UNKNOWN_KEY


def test_compromise_judged_on_signing_time(world, record):
    key = world.key()
    compromised_at = SIGNED + timedelta(days=1)
    entry = next(k for k in world.trust.keys if k.public_key == key.public_key())
    trust = world.trust.with_key(replace(entry, state=KeyState.COMPROMISED, compromised_at=compromised_at))
    before = issue(record, key, BASE, compromised_at - timedelta(seconds=1))
    after = issue(record, key, BASE, compromised_at)
    assert verify_at(before, trust, NOW).result is SignatureResult.VALID
    assert verify_at(after, trust, NOW).result is SignatureResult.KEY_REVOKED
    retired = world.trust.with_key(replace(entry, state=KeyState.RETIRED))
    assert verify_at(before, retired, NOW).valid


def test_a_signing_time_in_the_future_is_not_believed(world, record):
    text = issue(record, world.key(), BASE, NOW + timedelta(days=2))
    assert verify_at(text, world.trust, NOW).result is SignatureResult.KEY_NOT_VALID_AT_ISSUE
    assert verify_at(text, world.trust, NOW + timedelta(days=2)).valid


def test_kid_collision_tries_every_key(world, record):
    other = PrivateKey.generate()
    shared_kid = world.key().public_key().kid
    impostor = TrustedKey(shared_kid, other.public_key(), "210100")
    trust = replace(world.trust, keys=(impostor, *world.trust.keys))
    assert verify_at(issue(record, world.key(), BASE, SIGNED), trust, NOW).valid


def test_header_algorithm_cannot_override_the_trust_list(world, record):
    key = world.key(Alg.EDDSA)
    claims = Claims.from_record(record, SIGNED)
    protected = cbor2.dumps({1: -7, 4: bytes.fromhex(key.public_key().kid)}, canonical=True)
    body = payload.deflate(claims.to_cbor())
    forged = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, body, key.sign(payload.sig_structure(protected, body))]))
    assert verify_at(pack(forged), world.trust, NOW).result is SignatureResult.INVALID


@pytest.mark.parametrize("text, why", [
    ("", "not a crane"),
    ("HELLO WORLD", "not a crane"),
    ("HTTPS://VERIFY.EXAMPLE.CN/X/AAAAAAAAAAAAAAAAAAAA", "not a crane"),
    ("HTTPS://VERIFY.EXAMPLE.CN/V/AAAAAAAAAAAAAAAAAAA", "impossible length"),
    ("HTTPS://VERIFY.EXAMPLE.CN/V/AAAAAAAAAAAAAAAAAAAAAAB", "trailing bits"),
    ("A" * (MAX_TEXT + 1), "longer than"),
])
def test_malformed_texts_say_why(text, why):
    with pytest.raises(Malformed, match=why):
        decode(text)


def test_zlib_bomb_deep_cbor_and_trailing_bytes_are_malformed(world, record):
    bomb = zlib.compressobj(9, zdict=payload.ZDICT)
    bomb_bytes = bomb.compress(b"\xa1" + b"\0" * 1_000_000) + bomb.flush()
    with pytest.raises(Malformed, match="inflates past"):
        payload.inflate(bomb_bytes)
    deep = b"\x81" * 50 + b"\x01"
    with pytest.raises(Malformed, match="deeper"):
        payload.parse_cose(b"\xd2" + deep)
    cose = sign(Claims.from_record(record, SIGNED), world.key())
    assert payload.parse_cose(cose)
    with pytest.raises(Malformed, match="after the CBOR"):
        payload.parse_cose(cose + b"\0")
    stream = payload.deflate(Claims.from_record(record, SIGNED).to_cbor())
    assert stream[0] == 0x78
    with pytest.raises(Malformed, match="follow the zlib"):
        payload.inflate(stream + b"\0")
    with pytest.raises(Malformed, match="truncated"):
        payload.inflate(stream[:-3])
    with pytest.raises(Malformed, match="preset dictionary"):
        payload.inflate(zlib.compress(b"\xa0" * 10))


def test_duplicate_claim_keys_are_malformed(world, record):
    key = world.key()
    claims = Claims.from_record(record, SIGNED).to_cbor()
    # append a second `iss` to the claims map by hand: cbor2 would never write it
    assert claims[0] == 0xA4
    duplicated = payload.deflate(bytes([0xA5]) + claims[1:] + cbor2.dumps(1) + cbor2.dumps("210200"))
    protected = cbor2.dumps({1: -8, 4: bytes.fromhex(key.public_key().kid)}, canonical=True)
    signed = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, duplicated,
                                            key.sign(payload.sig_structure(protected, duplicated))]))
    result = verify_at(pack(signed), world.trust, NOW)
    assert result.result is SignatureResult.MALFORMED and "duplicate" in result.reason


def test_realistic_records_fit_qr_version_13_at_level_m(world):
    """Every category, Chinese names and sites, all three algorithms."""
    rng = random.Random(2024)
    worst = {}
    for alg in Alg:
        for i in range(120):
            city = CITIES[i % len(CITIES)]
            category = list(Category)[i % 4]
            record = Record.from_json(sample_record(rng, i, city=city, category=category))
            text = issue(record, world.key(alg), BASE, SIGNED)
            qr = segno.make(text, error="m", micro=False)
            assert qr.mode == "alphanumeric"
            worst[alg] = max(worst.get(alg, 0), qr.version)
    assert worst[Alg.EDDSA] <= 13, worst
    assert max(worst.values()) <= 13, worst


def test_only_the_implied_parts_of_the_licence_id_are_left_out(world, record):
    # A licence id of another form travels whole and comes back the same.
    odd = replace(record, licence_id="1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U")
    claims = Claims.from_record(odd, SIGNED)
    assert claims.licence_serial is None
    text = issue(odd, world.key(), BASE, SIGNED)
    result = verify_at(text, world.trust, NOW)
    assert result.claims.licence_id(TrustedIssuer("210100", "x", None)) == odd.licence_id


_alphabet = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def _rfc4648(text: str) -> bytes | None:
    """What the standard library reads, held to the canonical spelling: the answer the fast decoder must give."""
    if len(text) % 8 not in (0, 2, 4, 5, 7):
        return None
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError:   # binascii.Error is one
        return None
    return raw if base64.b32encode(raw).decode().rstrip("=") == text else None


@settings(max_examples=1000)
@given(st.one_of(
    st.binary(max_size=200).map(lambda b: base64.b32encode(b).decode().rstrip("=")),
    st.lists(_alphabet, max_size=300).map("".join),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abz019=_-+ \t\n\u0662\uff21", max_size=40),
))
def test_base32_decoder_reads_exactly_the_canonical_spellings(text):
    expected = _rfc4648(text) if text.isascii() else None
    if expected is None:
        with pytest.raises(Malformed):
            payload.b32decode(text)
    else:
        assert payload.b32decode(text) == expected


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.text(max_size=300),
    st.binary(max_size=400).map(lambda b: base64.b32encode(b).decode().rstrip("=")),
    st.binary(max_size=400).map(lambda b: "HTTPS://X.CN/V/" + base64.b32encode(b).decode().rstrip("=")),
    st.binary(max_size=300).map(lambda b: pack(b"\xd2" + b)),
    st.binary(max_size=300).map(lambda b: pack(b"\xd2\x84\x43\xa1\x01\x27\xa0" + b)),
    st.binary(max_size=300).map(lambda b: pack(b)),
    st.lists(_alphabet, min_size=16, max_size=600).map("".join),
))
def test_the_decoder_only_ever_returns_a_typed_result(world, text):
    result = verify_at(text, world.trust, NOW)
    assert isinstance(result.result, SignatureResult)
    assert result.result is not SignatureResult.VALID


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_real_payloads_are_never_valid(world, record, data):
    original = sign(Claims.from_record(record, SIGNED), world.key())
    cose = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(cose) - 1))
        cose[position] ^= data.draw(st.integers(1, 255))
    if cose == original:  # two flips of one byte can cancel out
        return
    result = verify_at(pack(bytes(cose)), world.trust, NOW)
    assert result.result is not SignatureResult.VALID


def test_es256_signatures_have_one_form_only(world, record):
    """(r, n - s) verifies in plain ECDSA: refusing the high form keeps one accepted encoding."""
    from keys.algorithms import _P256_N

    key = world.key(Alg.ES256)
    for i in range(8):
        cose = payload.parse_cose(sign(Claims.from_record(record, SIGNED + timedelta(seconds=i)), key))
        s = int.from_bytes(cose.signature[32:], "big")
        assert s <= _P256_N // 2
        flipped = cose.signature[:32] + (_P256_N - s).to_bytes(32, "big")
        forged = cbor2.dumps(cbor2.CBORTag(18, [cose.protected, {}, cose.payload, flipped]))
        assert verify_at(pack(forged), world.trust, NOW).result is SignatureResult.INVALID


def test_boolean_map_keys_are_malformed():
    from keys.cbor import CborError, loads

    with pytest.raises(CborError, match="integers or text"):
        loads(cbor2.dumps({True: "210100"}))


def test_a_signed_payload_with_an_impossible_licence_serial_is_malformed(world, record):
    claims = replace(Claims.from_record(record, SIGNED), licence_serial="bad serial!")
    result = verify_at(pack(sign(claims, world.key())), world.trust, NOW)
    assert result.result is SignatureResult.MALFORMED and "serial" in result.reason
