import json
from dataclasses import replace
from datetime import timedelta

import pytest

from keys.algorithms import Alg, PrivateKey
from keys.answer import SignatureResult
from keys.errors import TrustListError
from keys.trustlist import KeyRole, KeyState, SignedTrustList, TrustedKey, TrustList

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
