import json
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys.algorithms import Alg, PrivateKey
from keys.answer import SignatureResult
from keys.errors import TrustListError
from keys.trustlist import IssuerContact, KeyRole, KeyState, SignedTrustList, TrustedKey, TrustList

from .conftest import SIGNED


def test_a_list_verifies_against_its_pinned_root(world):
    doc = SignedTrustList.loads(world.signed().dumps())
    trust = doc.verify(world.root.public_key())
    assert trust.issuer("210100").name == "沈阳市城乡建设局"
    assert {k.alg for k in trust.keys} == set(Alg)
    assert trust.keys_for(world.feed_key.public_key().kid, KeyRole.ISSUER) == []


def test_a_list_checked_against_another_root_is_refused(world):
    with pytest.raises(TrustListError, match="pinned root"):
        world.signed().verify(PrivateKey.generate().public_key())


def test_any_change_to_a_signed_list_is_refused(world):
    doc = world.signed().to_json()
    doc["list"]["issuers"][0]["name"] = "假冒建设局"
    with pytest.raises(TrustListError):
        SignedTrustList.loads(json.dumps(doc)).verify(world.root.public_key())


def test_a_list_signed_by_someone_else_naming_our_root_is_refused(world):
    forger = PrivateKey.generate()
    doc = SignedTrustList.sign(world.trust, forger).to_json()
    doc["signatures"][0]["kid"] = world.root.public_key().kid
    with pytest.raises(TrustListError):
        SignedTrustList.loads(json.dumps(doc)).verify(world.root.public_key())


@pytest.mark.parametrize("garbage", [b"", b"[]", b'{"list": 1}', b'{"list": {"format": 9}}', b"\xff\xfe"])
def test_malformed_documents_raise_trust_list_errors(world, garbage):
    with pytest.raises(TrustListError):
        SignedTrustList.loads(garbage).verify(world.root.public_key())


def test_root_rotation_by_cross_signature(world):
    old_root, new_root = world.root, PrivateKey.generate(Alg.EDDSA)
    rotated = replace(world.trust, root=new_root.public_key(), serial=2)
    # A verifier pinned to the old root accepts a list that names the new root and is cross-signed by the old.
    accepted = SignedTrustList.sign(rotated, new_root, old_root).verify(old_root.public_key())
    assert accepted.root == new_root.public_key()
    # Its pin moves to the new root; later lists need only the new root's signature.
    later = replace(rotated, serial=3)
    assert SignedTrustList.sign(later, new_root).verify(accepted.root).serial == 3
    # Without the old root's cross-signature, the old pin refuses the new root...
    with pytest.raises(TrustListError):
        SignedTrustList.sign(rotated, new_root).verify(old_root.public_key())
    # ...and a list signed by neither root is refused by both pins.
    stranger = PrivateKey.generate()
    for pin in (old_root.public_key(), new_root.public_key()):
        with pytest.raises(TrustListError):
            SignedTrustList.sign(replace(rotated, root=stranger.public_key()), stranger).verify(pin)


def test_key_validity_and_compromise_are_judged_at_the_signing_time(world):
    pub = world.key().public_key()
    key = TrustedKey(pub.kid, pub, "210100", not_before=SIGNED - timedelta(days=30),
                     not_after=SIGNED + timedelta(days=30))
    assert key.judge(SIGNED) is SignatureResult.VALID
    assert key.judge(SIGNED - timedelta(days=31)) is SignatureResult.KEY_NOT_VALID_AT_ISSUE
    assert key.judge(SIGNED + timedelta(days=31)) is SignatureResult.KEY_NOT_VALID_AT_ISSUE
    retired = replace(key, state=KeyState.RETIRED)
    assert retired.judge(SIGNED) is SignatureResult.VALID
    compromised = replace(key, state=KeyState.COMPROMISED, compromised_at=SIGNED)
    assert compromised.judge(SIGNED - timedelta(seconds=1)) is SignatureResult.VALID
    assert compromised.judge(SIGNED) is SignatureResult.KEY_REVOKED


def test_the_canonical_body_survives_a_round_trip(world):
    body = world.trust.body()
    assert TrustList.from_body(body).body() == body
    assert SignedTrustList.loads(world.signed().dumps()).body == body


# --- hostile and malformed bodies: a TrustListError, never another exception --------------------------

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                     max_leaves=8)


def _replace_at(body, path, value):
    """The body with the value at `path` (keys and indexes) replaced."""
    body = json.loads(json.dumps(body))
    node = body
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return body


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@pytest.mark.parametrize("root", [[], {}, "", 0, False, "x", [1], {"public_key": 5}, {"public_key": "AAAA"}])
def test_a_falsy_or_malformed_root_is_refused_as_a_trust_list_error(world, root):
    """Any server answering a sync could send these; they used to raise AttributeError before any check."""
    body = _replace_at(world.signed().body, ("root",), root)
    with pytest.raises(TrustListError):
        SignedTrustList(body, world.signed().signatures).verify(world.root.public_key())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_malformed_body_is_a_trust_list_error(world, data):
    signed = world.signed()
    paths = [p for p in _paths(signed.body) if p]
    path = data.draw(st.sampled_from(paths))
    body = _replace_at(signed.body, path, data.draw(_JSON))
    document = json.dumps({"list": body, "signatures": list(signed.signatures)})
    try:
        SignedTrustList.loads(document).verify(world.root.public_key())
    except TrustListError:
        pass
    whole = data.draw(_JSON)
    try:
        SignedTrustList.loads(json.dumps({"list": whole, "signatures": []})).verify(world.root.public_key())
    except TrustListError:
        pass


# --- number spaces, contacts, retirement --------------------------------------------------------------

def test_number_spaces_and_contacts_round_trip_through_a_signed_list(world):
    issuer = replace(world.issuer, number_prefixes=("辽A-",),
                     contact=IssuerContact(phone="024-12345678", url="https://example.cn/zjj"))
    trust = replace(world.trust, issuers=(issuer,))
    loaded = SignedTrustList.loads(SignedTrustList.sign(trust, world.root).dumps()).verify(world.root.public_key())
    assert loaded.issuer(issuer.code) == issuer
    assert loaded.issuer(issuer.code).owns("辽A-SY-2024-00456")
    assert not loaded.issuer(issuer.code).owns("辽B-DL-2024-00456")
    assert world.issuer.owns("辽B-DL-2024-00456"), "a list without number spaces limits nobody"


@pytest.mark.parametrize("contact", [{"url": "javascript:alert(1)"}, {"phone": 5}, {"email": "a@b"}, "024-1", []])
def test_a_contact_that_a_page_could_not_show_safely_is_refused(world, contact):
    body = world.trust.body()
    body["issuers"][0]["contact"] = contact
    with pytest.raises(TrustListError):
        TrustList.from_body(body)


@pytest.mark.parametrize("prefixes", ["辽A-", [""], [1], {"a": 1}])
def test_malformed_number_prefixes_are_refused(world, prefixes):
    body = world.trust.body()
    body["issuers"][0]["number_prefixes"] = prefixes
    with pytest.raises(TrustListError):
        TrustList.from_body(body)


def test_a_retired_key_verifies_what_it_signed_before_its_retirement_only(world):
    key = next(k for k in world.trust.keys if k.role is KeyRole.ISSUER)
    retired = replace(key, state=KeyState.RETIRED, retired_at=SIGNED)
    assert retired.judge(SIGNED - timedelta(seconds=1)) is SignatureResult.VALID
    assert retired.judge(SIGNED) is SignatureResult.KEY_NOT_VALID_AT_ISSUE
    assert TrustedKey.from_json(retired.to_json()) == retired


@pytest.mark.parametrize("document", [
    {"list": [["format", 1]], "signatures": []},               # a list of pairs is no object
    {"list": {"format": 1}, "signatures": [[["kid", "x"], ["sig", "AA=="]]]},
    {"list": {"format": 1}, "signatures": {"kid": "x"}},
])
def test_a_list_or_signature_that_is_not_an_object_is_refused(world, document):
    """As webapp/src/core/trustlist.js reads the document: objects only."""
    with pytest.raises(TrustListError, match="not a trust list document"):
        SignedTrustList.loads(json.dumps(document))


@pytest.mark.parametrize("credit_code,kept", [("", None), (None, None)])
def test_an_empty_credit_code_names_none(world, credit_code, kept):
    body = world.trust.body()
    body["issuers"][0]["credit_code"] = credit_code
    assert SignedTrustList.sign(TrustList.from_body(body), world.root).verify(
        world.root.public_key()).issuers[0].credit_code is kept


@pytest.mark.parametrize("credit_code", [0, False, 1, [], {}])
def test_a_credit_code_that_is_not_text_is_refused(world, credit_code):
    body = world.trust.body()
    body["issuers"][0]["credit_code"] = credit_code
    with pytest.raises(TrustListError, match="credit_code is a text or null"):
        TrustList.from_body(body)
