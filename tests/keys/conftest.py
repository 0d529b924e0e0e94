import random
from datetime import UTC, datetime

import pytest

from keys.algorithms import Alg, PrivateKey
from keys.record import Record
from keys.samples import CITIES, authority_credit_code, sample_record
from keys.trustlist import KeyRole, SignedTrustList, TrustedIssuer, TrustedKey, TrustList

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
SIGNED = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


class TrustWorld:
    """A root, one issuer key per algorithm for 沈阳 210100, and the signed list that trusts them."""

    def __init__(self):
        self.root = PrivateKey.generate()
        self.issuer_keys = {alg: PrivateKey.generate(alg) for alg in Alg}
        city = CITIES[0]
        self.issuer = TrustedIssuer(city.code, city.authority, authority_credit_code(city))
        keys = tuple(TrustedKey(k.public_key().kid, k.public_key(), city.code) for k in self.issuer_keys.values())
        self.feed_key = PrivateKey.generate()
        keys += (TrustedKey(self.feed_key.public_key().kid, self.feed_key.public_key(), city.code, KeyRole.FEED),)
        self.trust = TrustList(root=self.root.public_key(), issuers=(self.issuer,), keys=keys)

    def key(self, alg=Alg.EDDSA) -> PrivateKey:
        return self.issuer_keys[alg]

    def signed(self) -> SignedTrustList:
        return SignedTrustList.sign(self.trust, self.root)


@pytest.fixture(scope="session")
def world() -> TrustWorld:
    return TrustWorld()


@pytest.fixture
def record() -> Record:
    return Record.from_json(sample_record(random.Random(456), 456, city=CITIES[0]))
