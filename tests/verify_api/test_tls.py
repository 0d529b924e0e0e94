"""The LAN-trial CA of `crane-verify tls init` (verify_api/tls.py): it vouches for the one host it was made
for and for 90 days only, so a phone that installed it trusts nothing else with it."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from verify_api.tls import init

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def _load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def _verify(ca: x509.Certificate, leaf: x509.Certificate, name: x509.GeneralName, at: datetime = NOW) -> None:
    builder = PolicyBuilder().store(Store([ca])).time(at + timedelta(hours=1))
    verifier = builder.build_server_verifier(name)
    verifier.verify(leaf, [])


def _forged(files, name: x509.GeneralName) -> x509.Certificate:
    """What anyone holding the CA key (a copy of the data directory) could sign for another site."""
    ca = _load(files.ca_cert)
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW).not_valid_after(NOW + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([name]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def test_the_trial_ca_vouches_for_its_one_host_for_90_days(tmp_path):
    files = init(tmp_path, "192.168.1.20", NOW)
    ca, server = _load(files.ca_cert), _load(files.cert)
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert list(constraints.value.permitted_subtrees) == [x509.IPAddress(ipaddress.ip_network("192.168.1.20/32"))]
    assert ca.not_valid_after_utc - NOW <= timedelta(days=90)
    assert server.not_valid_after_utc <= ca.not_valid_after_utc
    _verify(ca, server, x509.IPAddress(ipaddress.ip_address("192.168.1.20")))
    for other in (x509.DNSName("bank.example.cn"), x509.IPAddress(ipaddress.ip_address("192.168.1.21")),
                  x509.IPAddress(ipaddress.ip_address("2001:db8::1"))):
        with pytest.raises(VerificationError):
            _verify(ca, _forged(files, other), other)
    named = init(tmp_path / "named", "crane-trial.local", NOW)
    _verify(_load(named.ca_cert), _load(named.cert), x509.DNSName("crane-trial.local"))
    for other in (x509.DNSName("bank.example.cn"), x509.IPAddress(ipaddress.ip_address("192.168.1.20"))):
        with pytest.raises(VerificationError):
            _verify(_load(named.ca_cert), _forged(named, other), other)


def test_the_ca_is_kept_for_the_same_host_and_replaced_for_another_or_when_expired(tmp_path):
    first = init(tmp_path, "crane-trial.local", NOW)
    assert first.created_ca
    again = init(tmp_path, "crane-trial.local", NOW + timedelta(days=10))
    assert not again.created_ca and _load(again.ca_cert) == _load(first.ca_cert)
    other = init(tmp_path, "192.168.1.20", NOW + timedelta(days=10))
    assert other.created_ca
    _verify(_load(other.ca_cert), _load(other.cert), x509.IPAddress(ipaddress.ip_address("192.168.1.20")),
            NOW + timedelta(days=10))
    assert init(tmp_path, "192.168.1.20", NOW + timedelta(days=101)).created_ca
