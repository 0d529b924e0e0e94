import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from gmssl import sm2

from keys.algorithms import Alg, PrivateKey, PublicKey, kid_of
from keys.errors import KeyFileError


@pytest.mark.parametrize("alg", list(Alg))
def test_sign_verify_and_pem_round_trip(alg):
    key = PrivateKey.generate(alg)
    pub = key.public_key()
    signature = key.sign(b"crane")
    assert len(signature) == 64
    assert pub.verify(signature, b"crane")
    assert not pub.verify(signature, b"crane!")
    assert not pub.verify(signature[:-1] + bytes([signature[-1] ^ 1]), b"crane")
    assert PrivateKey.from_pem(key.pem()).public_key() == pub
    assert PublicKey.from_pem(pub.pem()) == pub
    assert PublicKey.from_spki(pub.spki).alg is alg


@pytest.mark.parametrize("alg", list(Alg))
def test_passphrase_protected_keys(alg):
    key = PrivateKey.generate(alg)
    pem = key.pem(b"secret")
    assert b"ENCRYPTED" in pem
    assert PrivateKey.from_pem(pem, b"secret").public_key() == key.public_key()
    with pytest.raises(KeyFileError):
        PrivateKey.from_pem(pem, b"wrong")
    with pytest.raises(KeyFileError):
        PrivateKey.from_pem(pem)


def test_kid_is_first_8_bytes_of_sha256_over_spki():
    import hashlib

    pub = PrivateKey.generate().public_key()
    assert pub.kid == hashlib.sha256(pub.spki).hexdigest()[:16] == kid_of(pub.spki)


def test_unsupported_keys_are_named():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyFileError, match="unsupported key type"):
        PublicKey.from_pem(p384)
    with pytest.raises(KeyFileError):
        PublicKey.from_pem(b"not a key")


def _gm_public_hex(pub: PublicKey) -> str:
    numbers = pub._key.public_numbers()
    return f"{numbers.x:064x}{numbers.y:064x}"


@pytest.mark.parametrize("message", [b"", b"crane", "辽A-SY-2024-00456".encode(), bytes(range(256)) * 4])
def test_sm2_signatures_made_here_verify_in_gmssl(message):
    key = PrivateKey.generate(Alg.SM2)
    raw = key.sign(message)
    gm = sm2.CryptSM2(private_key=None, public_key=_gm_public_hex(key.public_key()))
    assert gm.verify_with_sm3(raw.hex(), message)  # gmssl hashes Z_A(1234567812345678) || M with SM3
    assert not gm.verify_with_sm3(raw.hex(), message + b"x")


@pytest.mark.parametrize("message", [b"", b"crane", "沈阳市城乡建设局".encode()])
def test_sm2_signatures_made_by_gmssl_verify_here(message):
    key = PrivateKey.generate(Alg.SM2)
    d = key._key.private_numbers().private_value
    gm = sm2.CryptSM2(private_key=f"{d:064x}", public_key=_gm_public_hex(key.public_key()))
    import secrets

    signature_hex = gm.sign_with_sm3(message, secrets.token_hex(32))
    raw = bytes.fromhex(signature_hex)
    assert key.public_key().verify(raw, message)
    assert not key.public_key().verify(raw, message + b"x")
    # and through DER, the form Tongsuo itself uses
    r, s = decode_dss_signature(encode_dss_signature(int(signature_hex[:64], 16), int(signature_hex[64:], 16)))
    assert (r, s) == (int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def test_private_keys_are_written_0600(tmp_path):
    path = tmp_path / "k.key.pem"
    PrivateKey.generate().write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        PrivateKey.generate().write(path)
