"""SM2 with a chosen user ID (keys/documents/sm2_id.py) agrees with Tongsuo on the standard ID, and
verifies what OpenSSL 3 signs with its default (empty) ID, as a seal root made with `openssl req` is."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from keys.algorithms import Alg, PrivateKey
from keys.documents import gm, sm2_id
from keys.documents.certs import load_pem_certificates


def test_agrees_with_tongsuo_on_the_standard_id() -> None:
    key = PrivateKey.generate(Alg.SM2)
    point = gm.point_of_spki(key.public_key().spki)
    for message in (b"", b"abc", bytes(range(256)) * 9):
        raw = key.sign(message)
        assert sm2_id.verify(point, raw, message, b"1234567812345678")
        assert not sm2_id.verify(point, raw, message + b"x", b"1234567812345678")
        assert not sm2_id.verify(point, raw, message, b"")
        assert not sm2_id.verify(point, raw[:32] + bytes(32), message, b"1234567812345678")


def test_points_off_the_curve_and_bad_scalars_fail() -> None:
    key = PrivateKey.generate(Alg.SM2)
    point = gm.point_of_spki(key.public_key().spki)
    raw = key.sign(b"m")
    assert not sm2_id.verify(point[:-1] + bytes([point[-1] ^ 1]), raw, b"m", b"1234567812345678")
    assert not sm2_id.verify(point, sm2_id.N.to_bytes(32, "big") + raw[32:], b"m", b"1234567812345678")
    assert not sm2_id.verify(point, raw, b"m", b"1234567812345678"[:-1])


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_an_openssl_made_root_verifies_and_is_noted(tmp_path: Path) -> None:
    key, cert = tmp_path / "root.key", tmp_path / "root.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", str(key)],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-x509", "-new", "-key", str(key), "-sm3", "-subj", "/CN=openssl root",
                    "-days", "30", "-out", str(cert)], check=True, capture_output=True)
    root, = load_pem_certificates(cert.read_bytes())
    quirks: list[str] = []
    assert root.verifies(root.signature, root.tbs, quirks) and root.issued_by(root)
    assert quirks == ["signed with an empty SM2 user ID (OpenSSL 3's default), not 1234567812345678"]
    assert not root.verifies(root.signature, root.tbs + b"x", [])
