"""A local certificate authority and a server certificate for trials on a real phone over the LAN.

Camera and service worker need a secure context, so a phone on the office network must reach the service
over HTTPS. `crane-verify tls init --host 192.168.1.20` makes, under <data dir>/tls/, a CA and a server
certificate for that address signed by it; the CA certificate is installed on the phone. The CA can vouch
for that one address only (a critical name constraint) and lasts 90 days, so a phone that installed it for
a trial trusts nothing else with it, then or later; later runs for the same address reuse it while it
lasts, another address or an expired CA gets a new one. Production TLS ends at nginx in front
(docs/deployment.md), never with this CA.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keys.errors import CraneError

CA_DAYS = 90
SERVER_DAYS = 397  # what phones accept for a server certificate (iOS and Chrome: at most 398 days)


class TlsError(CraneError):
    """The CA or the host name cannot be used."""


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path
    created_ca: bool


def tls_dir(data_dir: Path) -> Path:
    return data_dir / "tls"


def init(folder: Path, host: str, now: datetime) -> TlsFiles:
    """The CA under `folder` (made once) and a new server certificate for `host` (an IP address or a name)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert_path, ca_key_path = folder / "ca.pem", folder / "ca.key.pem"
    san = _subject_alt_name(host)
    kept = None
    if ca_cert_path.exists():
        try:
            ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
            loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError("not an EC key")
            kept = (ca_cert, loaded) if _permits(ca_cert, san, now) else None
        except (OSError, ValueError) as exc:
            raise TlsError(f"本地证书颁发机构文件无法读取：{folder}（删除该目录后重新运行）/ "
                           f"the local CA in {folder} cannot be read ({exc}); remove the folder and run again") from exc
    created = kept is None
    if kept is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca(ca_key, san, now)
        _write_key(ca_key_path, ca_key)
        ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    else:
        ca_cert, ca_key = kept
    key = ec.generate_private_key(ec.SECP256R1())
    cert_path, key_path = folder / f"server-{_file_name(host)}.pem", folder / f"server-{_file_name(host)}.key.pem"
    _write_key(key_path, key)
    cert_path.write_bytes(_server(key, host, ca_cert, ca_key, now).public_bytes(serialization.Encoding.PEM))
    return TlsFiles(ca_cert_path, ca_key_path, cert_path, key_path, created)


def _subject_alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host or len(host) > 253 or not all(part and part.replace("-", "").isalnum() for part in host.split(".")):
        raise TlsError(f"不是 IP 地址或主机名：{host!r} / not an IP address or host name: {host!r}")
    return x509.DNSName(host)


def _subtree(san: x509.GeneralName) -> x509.GeneralName:
    """The name constraint that permits `san`: the one address, or the host name (and names under it)."""
    if isinstance(san, x509.IPAddress):
        address = san.value
        return x509.IPAddress(ipaddress.ip_network(f"{address}/{address.max_prefixlen}"))
    return san


def _excluded(san: x509.GeneralName) -> list[x509.GeneralName]:
    """Every name of the other forms: a constraint binds only names of its own form (RFC 5280 4.2.1.10), so an
    address alone permitted would leave every host name open, and the other way round."""
    if isinstance(san, x509.IPAddress):
        other = "::/0" if san.value.version == 4 else "0.0.0.0/0"
        return [x509.DNSName(""), x509.IPAddress(ipaddress.ip_network(other))]
    return [x509.IPAddress(ipaddress.ip_network("0.0.0.0/0")), x509.IPAddress(ipaddress.ip_network("::/0"))]


def _permits(ca_cert: x509.Certificate, san: x509.GeneralName, now: datetime) -> bool:
    """Whether a kept CA still lasts and is constrained to exactly this host (a CA made before the constraint
    was added, or for another address, is replaced)."""
    try:
        constraints = ca_cert.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        return False
    return (constraints.critical and now < ca_cert.not_valid_after_utc
            and list(constraints.value.permitted_subtrees or []) == [_subtree(san)]
            and list(constraints.value.excluded_subtrees or []) == _excluded(san))


def _file_name(host: str) -> str:
    return host.replace(":", "_")


def _ca(key: ec.EllipticCurvePrivateKey, san: x509.GeneralName, now: datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crane-verify local trial CA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "crane-verify (trial only)")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.NameConstraints(permitted_subtrees=[_subtree(san)], excluded_subtrees=_excluded(san)),
                           critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def _server(key: ec.EllipticCurvePrivateKey, host: str, ca_cert: x509.Certificate,
            ca_key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    san = _subject_alt_name(host)
    return (x509.CertificateBuilder()
            # An address in the common name would be read as a host name by OpenSSL and fall under the CA's
            # exclusion of every host name: the address is in the subject alternative name only.
            .subject_name(x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, "crane-verify trial server" if isinstance(san, x509.IPAddress) else host)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(min(now + timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
