"""Fuzzing the payload decoder (keys.payload.verify_at) and the resolver (verify_api.resolve.resolve).

Seeded generators (tests/security/hostile.py) make 100,000 inputs for each, so a run is repeatable and
fits CI's time: random text, character edits of valid codes, byte edits of their COSE structure, and
hostile claims *signed by trusted keys* (Ed25519, ES256, SM2), which get past the signature to the
inflater, the strict CBOR reader and the claims parser. Hypothesis adds shrinking property tests on top.

What must hold for every input: a typed answer, never an exception; never `valid` for a text that no
trusted key signed as it is; a `valid` answer carries well-typed claims; each check is quick. The
resolver, against a real Redis holding registered certificates, also never says `ok` for an unsigned
edit, and every answer matches the published schema.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import UTC, date, datetime

import cbor2
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys.algorithms import Alg, PrivateKey
from keys.answer import SignatureResult, State
from keys.payload import issue, verify_at
from keys.record import Record
from keys.samples import CITIES, sample_record
from keys.trustlist import KeyRole, TrustedKey
from verify_api import demo, openapi
from verify_api.resolve import resolve

from . import hostile

INPUTS = 100_000
NOW = datetime(2026, 11, 24, 2, tzinfo=UTC)
SIGNED_AT = datetime(2025, 6, 1, 1, tzinfo=UTC)
MAX_SECONDS_PER_INPUT = 0.25     # far above the slowest real check (SM2, ~0.2 ms): catches a blow-up


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A trust list with Ed25519 (demo), ES256 and SM2 keys of Shenyang, and valid codes signed by each."""
    data_dir = tmp_path_factory.mktemp("fuzz-keys")
    keys = demo.ensure_keys(data_dir)
    extra = {Alg.ES256: PrivateKey.generate(Alg.ES256), Alg.SM2: PrivateKey.generate(Alg.SM2)}
    trust = demo.demo_trust_list(keys)
    for key in extra.values():
        trust = trust.with_key(TrustedKey(key.public_key().kid, key.public_key(), "210100", KeyRole.ISSUER,
                                          not_before=demo.KEY_NOT_BEFORE))
    signers = [keys.issuers["210100"]] * 8 + [extra[Alg.ES256], extra[Alg.SM2]]
    records, texts = [], []
    rng = random.Random(7)
    for n in range(30):
        raw = sample_record(rng, 40000 + n, city=CITIES[0])
        signer = signers[n % len(signers)]
        records.append(raw)
        texts.append(issue(Record.from_json(raw), signer, hostile.PREFIX.rsplit("/V/", 1)[0], SIGNED_AT))
    for text in texts:
        assert verify_at(text, trust, NOW).valid
    return {"trust": trust, "signers": signers, "records": records, "texts": texts, "keys": keys}


def generate(seed: int, corpus: dict, count: int):
    """(kind, text, original payload or None) for `count` inputs; `original` marks unsigned edits."""
    rng = random.Random(seed)
    texts, records, signers = corpus["texts"], corpus["records"], corpus["signers"]
    for _ in range(count):
        roll = rng.random()
        if roll < 0.15:
            yield "random", hostile.random_text(rng), None
        elif roll < 0.45:
            original = rng.choice(texts)
            yield "text-edit", hostile.mutate_text(rng, original), original
        elif roll < 0.65:
            original = rng.choice(texts)
            mutated = hostile.mutate_bytes(rng, hostile.cose_of(original))
            yield "byte-edit", hostile.text_of(mutated), original
        elif roll < 0.9:
            record = rng.choice(records)
            claims = hostile.hostile_claims(rng, record, SIGNED_AT)
            yield "signed-claims", hostile.text_of(hostile.sign_raw(claims, rng.choice(signers))), None
        else:
            yield "signed-header", _hostile_header(rng, corpus), None


def _hostile_header(rng: random.Random, corpus: dict) -> str:
    """Good claims under a protected header or unprotected map an attacker chose, signed by a trusted key."""
    key = rng.choice(corpus["signers"])
    other = rng.choice(corpus["signers"])
    record = rng.choice(corpus["records"])
    claims = cbor2.dumps(hostile.claims_map(record, SIGNED_AT), canonical=True)
    choice = rng.randrange(5)
    if choice == 0:    # another key's alg with this key's kid
        protected = cbor2.dumps({1: rng.choice((-8, -7, -48, 0, 65535)), 4: bytes.fromhex(key.public_key().kid)})
    elif choice == 1:  # another key's kid
        protected = hostile.protected_header(other)
    elif choice == 2:  # damaged header bytes
        protected = hostile.mutate_bytes(rng, hostile.protected_header(key))
    elif choice == 3:  # extra parameters in the protected header
        protected = hostile.protected_header(key, **{str(rng.randrange(100)): hostile.random_cbor_value(rng)})
    else:
        return hostile.text_of(hostile.sign_raw(claims, key, unprotected={4: b"12345678"}))
    return hostile.text_of(hostile.sign_raw(claims, key, protected=protected))


def _check_valid_claims(verification) -> None:
    claims = verification.claims
    assert claims is not None and verification.key is not None and verification.issuer is not None
    assert isinstance(claims.registration_no, str) and isinstance(claims.version, int) and 1 <= claims.version <= 999
    assert isinstance(claims.issued_on, date) and isinstance(claims.signed_at, datetime)
    assert claims.issuer_code == verification.key.issuer
    json.dumps(claims.certificate(verification.issuer), ensure_ascii=False)


def _payload(text: str) -> str:
    return text.rpartition("/")[2]


@pytest.mark.slow
def test_fuzz_the_payload_decoder_with_100000_inputs(corpus):
    trust = corpus["trust"]
    results: Counter = Counter()
    kinds: Counter = Counter()
    slowest = 0.0
    for kind, text, original in generate(20261124, corpus, INPUTS):
        started = time.perf_counter()
        verification = verify_at(text, trust, NOW)
        slowest = max(slowest, time.perf_counter() - started)
        assert isinstance(verification.result, SignatureResult), (kind, text)
        if original is not None and _payload(text) != _payload(original):
            assert not verification.valid, f"an unsigned {kind} verified: {text!r} from {original!r}"
        if verification.valid:
            _check_valid_claims(verification)
        kinds[kind] += 1
        results[verification.result.value] += 1
    assert sum(kinds.values()) == INPUTS
    assert slowest < MAX_SECONDS_PER_INPUT, slowest
    # the generator reaches every stage: each answer but not_applicable occurs
    assert set(results) >= {"valid", "invalid", "unknown_key", "malformed"}, results
    assert results["malformed"] > 10_000 and results["invalid"] > 1_000, results
    print(f"decoder: {INPUTS} inputs {dict(kinds)} -> {dict(results)}; slowest {slowest * 1000:.1f} ms")


@pytest.mark.slow
def test_fuzz_the_resolver_with_100000_inputs_against_real_redis(corpus, store):
    trust = corpus["trust"]
    registered = 0
    for raw, text in zip(corpus["records"], corpus["texts"], strict=True):
        registered += store.register(Record.from_json(raw), text, "operator:fuzz", NOW).outcome == "created"
    store.change_status(corpus["records"][0]["registration_no"], State.SUSPENDED, "fuzz", "operator:fuzz", NOW, None)
    licence_ids = [r["licence_id"] for r in corpus["records"]]
    components = openapi.spec("https://verify.example.cn")["components"]
    validator = jsonschema.Draft202012Validator({"$ref": "#/components/schemas/Answer", "components": components})

    def inputs():
        rng = random.Random(4242)
        yield from generate(1124, corpus, INPUTS - 5_000)
        for _ in range(5_000):   # e-licence identifiers of registered certificates, some with an edit
            licence_id = rng.choice(licence_ids)
            if rng.random() < 0.7:
                at = rng.randrange(len(licence_id))
                licence_id = licence_id[:at] + rng.choice("0123456789AZ.") + licence_id[at + 1:]
            yield "licence-id", rng.choice((licence_id, f"https://zwfw.example.gov.cn/v?id={licence_id}")), None

    states: Counter = Counter()
    ok = 0
    slowest = 0.0
    for n, (kind, text, original) in enumerate(inputs()):
        started = time.perf_counter()
        resolution = resolve(text, trust, store, NOW)
        slowest = max(slowest, time.perf_counter() - started)
        body = resolution.answer.to_json()
        assert not resolution.store_down
        signature, state = body["signature"]["result"], body["status"]["state"]
        if body["verdict"]["ok"]:
            ok += 1
            assert (signature == "valid" and state == "valid") or state == "paper_legacy", body
        if original is not None and _payload(text) != _payload(original):
            assert not body["verdict"]["ok"] and signature != "valid", (kind, text)
        if n % 50 == 0:
            validator.validate(json.loads(json.dumps(body, ensure_ascii=False)))
        states[(kind, state)] += 1
    assert sum(states.values()) == INPUTS
    assert slowest < MAX_SECONDS_PER_INPUT, slowest
    found = {state for (_, state) in states}
    assert {"valid", "suspended", "not_found", "unknown"} <= found, states
    assert ok > 0, "no input reached a registered certificate"
    print(f"resolver: {INPUTS} inputs, {ok} ok, states {sorted(Counter(s for _, s in states.elements()).items())}")


# --- Hypothesis: shrinking property tests on top of the seeded corpus ------------------------------------

@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=3000), st.from_regex(r"\A(HTTPS://[A-Z.]{1,20}/V/)?[A-Z2-7]{0,400}\Z"),
                 st.binary(max_size=1500).map(lambda b: hostile.text_of(b))))
def test_any_text_is_an_answer_never_an_exception(corpus, text):
    verification = verify_at(text, corpus["trust"], NOW)
    assert isinstance(verification.result, SignatureResult)
    assert not verification.valid


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_edit_of_a_valid_code_is_never_valid(corpus, data):
    original = data.draw(st.sampled_from(corpus["texts"]))
    payload = _payload(original)
    at = data.draw(st.integers(0, len(payload) - 1))
    replacement = data.draw(st.text(alphabet=hostile.BASE32 + "abc018=", min_size=0, max_size=3))
    edited = payload[:at] + replacement + payload[at + 1:]
    if edited == payload:
        return
    verification = verify_at(original.rpartition("/")[0] + "/" + edited, corpus["trust"], NOW)
    assert not verification.valid

