"""Vendor quirks are read leniently and named in the report; leniency never makes a bad signature good."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from keys.algorithms import Alg, PrivateKey
from keys.documents import der as d
from keys.documents import gm, verify_document
from keys.documents.certs import Certificate
from keys.documents.layout import certificate_ofd
from keys.documents.outcome import loose_time
from keys.documents.seal_keys import SealIdentity
from keys.documents.sealing import SealSpec, seal_ofd

from .conftest import NOW, sample
from .edit import edited


def _unpadded(n: int) -> bytes:
    """An INTEGER as some seal systems write it: the magnitude without the 0x00 pad."""
    return d.tlv(d.INTEGER, n.to_bytes(32, "big"))


def _point(key: PrivateKey) -> bytes:
    return gm.point_of_spki(key.public_key().spki)


def test_unpadded_integers_are_read_and_noted_and_a_bad_signature_stays_bad() -> None:
    key = PrivateKey.generate(Alg.SM2)
    for attempt in range(64):
        data = b"Signature.xml %d" % attempt
        raw = key.sign(data)
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        if r >> 255:        # a high bit set: DER needs the pad, which the quirk leaves out
            break
    quirks: list[str] = []
    assert gm.verify(_point(key), d.seq(_unpadded(r), d.integer(s)), data, quirks)
    assert quirks == ["INTEGER without the 0x00 pad, read as unsigned"]
    assert not gm.verify(_point(key), d.seq(_unpadded(r), d.integer(s ^ 1)), data, [])
    assert not gm.verify(_point(key), d.seq(_unpadded(r), d.integer(s)), data + b"!", [])
    assert not gm.verify(_point(PrivateKey.generate(Alg.SM2)), d.seq(_unpadded(r), d.integer(s)), data, [])


def test_gbk_inside_utf8string_is_read_as_gbk_and_noted() -> None:
    quirks: list[str] = []
    assert d.parse(d.tlv(d.UTF8, "云南省住房和城乡建设厅".encode("gbk"))).text(quirks) == "云南省住房和城乡建设厅"
    assert quirks == ["GBK bytes inside a UTF8String, read as GBK"]


def test_utctime_text_inside_generalizedtime_is_read_and_noted() -> None:
    quirks: list[str] = []
    moment = d.parse(d.tlv(d.GENERALIZED_TIME, b"200422020900Z")).time(quirks)
    assert moment.isoformat() == "2020-04-22T02:09:00+00:00"
    assert quirks == ["UTCTime text inside a GeneralizedTime, read as UTCTime"]


def test_check_methods_by_name_and_oid() -> None:
    data = b"abc"   # the standard test vectors of each digest
    for name in ("MD5", "1.2.840.113549.2.5"):
        assert gm.digest_for(name, [])(data).hex() == "900150983cd24fb0d6963f7d28e17f72"
    for name in ("SHA1", "SHA-1", "1.3.14.3.2.26"):
        assert gm.digest_for(name, [])(data).hex() == "a9993e364706816aba3e25717850c26c9cd0d89d"
    for name in ("SHA256", "sha-256", "2.16.840.1.101.3.4.2.1"):
        assert gm.digest_for(name, [])(data).hex() == (
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    quirks: list[str] = []
    for name in ("SM3", "1.2.156.10197.1.401", "1.2.156.10197.1.401.2"):
        assert gm.digest_for(name, quirks)(data) == gm.sm3(data)
    assert quirks == ["CheckMethod 1.2.156.10197.1.401.2 (SM3 with key) read as plain SM3"]
    assert gm.digest_for("1.2.3.4", []) is None
    assert gm.sm3(data).hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_a_signed_value_stored_as_base64_text_is_decoded_and_noted(issued, pki) -> None:
    changed = edited(issued.document, "Doc_0/Signs/Sign_1/SignedValue.dat", base64.encodebytes)
    sig, = verify_document(changed, NOW, roots=[pki.root.certificate]).signatures
    assert sig.intact and sig.trusted
    assert "宽松读取 read leniently: signed value stored as base64 text, decoded" in sig.notes


def test_a_bare_r_s_signature_is_read_and_noted(ofdrw) -> None:
    def bare(value: bytes) -> bytes:
        r, s = (n.integer() for n in d.parse(value).children())
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    changed = edited(sample("DigitalSign.ofd"), "Doc_0/Signs/Sign_0/SignedValue.dat", bare)
    sig, = verify_document(changed, NOW, known_certificates=[ofdrw["USER"].certificate]).signatures
    assert sig.signature_valid is True
    assert "宽松读取 read leniently: signature stored as bare r||s instead of DER" in sig.notes


def test_a_certificate_embedded_without_its_octet_string_is_read_and_noted(issued, pki) -> None:
    def unwrap(value: bytes) -> bytes:
        top = d.parse(value).children()
        return d.seq(top[0].raw, top[1].octets(), top[2].raw, top[3].raw)
    changed = edited(issued.document, "Doc_0/Signs/Sign_1/SignedValue.dat", unwrap)
    sig, = verify_document(changed, NOW, roots=[pki.root.certificate]).signatures
    assert sig.intact and sig.trusted
    assert "宽松读取 read leniently: certificate embedded as a SEQUENCE, not inside an OCTET STRING" in sig.notes


def _gbk_signer(pki) -> SealIdentity:
    """A seal certificate whose names are GBK bytes in UTF8String, as some provincial CAs issue them."""
    key = PrivateKey.generate(Alg.SM2)
    name = d.seq(d.set_of(d.seq(d.oid("2.5.4.6"), d.tlv(d.PRINTABLE, b"CN"))),
                 d.set_of(d.seq(d.oid("2.5.4.3"), d.tlv(d.UTF8, "云南省住房和城乡建设厅".encode("gbk")))))
    algorithm = d.seq(d.oid(gm.SM2_WITH_SM3))
    issuer = d.parse(pki.root.certificate.subject_name).raw
    tbs = d.seq(d.explicit(0, d.integer(2)), d.integer(12345), algorithm, issuer,
                d.seq(d.utctime(NOW - timedelta(days=10)), d.utctime(NOW + timedelta(days=300))), name,
                key.public_key().spki)
    cert = d.seq(tbs, algorithm, d.bits(gm.sign(pki.root.key, tbs)))
    return SealIdentity(key, Certificate.parse(cert))


def test_gbk_names_in_a_signer_certificate_are_read_and_noted(issued, pki) -> None:
    signer = _gbk_signer(pki)
    sealed = seal_ofd(certificate_ofd(issued.record, issued.qr_text), signer, SealSpec("x", b""),
                      NOW - timedelta(hours=1))
    sig, = verify_document(sealed, NOW, roots=[pki.root.certificate]).signatures
    assert sig.intact and sig.trusted and sig.signer.subject == "CN=云南省住房和城乡建设厅, C=CN"
    assert "宽松读取 read leniently: GBK bytes inside a UTF8String, read as GBK" in sig.notes


def test_a_non_standard_cert_list_type_is_noted(issued, pki) -> None:
    """certListType 5 (GB/T 38540 knows 1 and 2), in a seal its maker signed as it is."""
    signer = pki.seal
    header = d.seq(d.ia5("ES"), d.integer(4), d.ia5("vendor"))
    prop = d.seq(d.integer(1), d.utf8("测试章"), d.integer(5), d.seq(d.octets(signer.certificate.der)),
                 d.gtime(NOW - timedelta(days=1)), d.gtime(NOW - timedelta(days=1)), d.gtime(NOW + timedelta(days=9)))
    info = d.seq(header, d.ia5("esid"), prop, d.seq(d.ia5("PNG"), d.octets(b""), d.integer(40), d.integer(40)))
    esl = d.seq(info, d.octets(pki.root.certificate.der), d.oid(gm.SM2_WITH_SM3), d.bits(gm.sign(pki.root.key, info)))
    sealed = seal_ofd(certificate_ofd(issued.record, issued.qr_text), signer, SealSpec("x", b""),
                      NOW - timedelta(hours=1), esl=esl)
    sig, = verify_document(sealed, NOW, roots=[pki.root.certificate]).signatures
    assert sig.intact and sig.trusted and sig.seal_name == "测试章"
    assert "宽松读取 read leniently: non-standard certListType 5" in sig.notes


def test_a_bare_r_s_that_starts_like_der_still_verifies() -> None:
    key = PrivateKey.generate(Alg.SM2)
    point = gm.point_of_spki(key.public_key().spki)
    for attempt in range(4000):
        data = b"m%d" % attempt
        raw = key.sign(data)
        if raw[0] == d.SEQUENCE:
            break
    quirks: list[str] = []
    assert gm.verify(point, raw, data, quirks) and quirks == ["signature stored as bare r||s instead of DER"]


def test_ses_v1_with_octet_string_data_hash_is_read_and_noted(issued, pki) -> None:
    sealed = seal_ofd(certificate_ofd(issued.record, issued.qr_text), pki.seal, SealSpec("x", b""),
                      NOW - timedelta(hours=1), maker=pki.root, version=1)

    def octet_hash(value: bytes) -> bytes:
        fields = d.parse(value).children()[0].children()
        tbs = d.seq(*(f.raw for f in fields[:3]), d.octets(fields[3].bits()), *(f.raw for f in fields[4:]))
        return d.seq(tbs, d.bits(gm.sign(pki.seal.key, tbs)))
    changed = edited(sealed, "Doc_0/Signs/Sign_1/SignedValue.dat", octet_hash)
    sig, = verify_document(changed, NOW, roots=[pki.root.certificate]).signatures
    assert sig.format.value == "ses-v1" and sig.intact and sig.trusted
    assert "宽松读取 read leniently: dataHash in an OCTET STRING, not a BIT STRING" in sig.notes


@pytest.mark.parametrize("text,expected", [
    ("20200723130907.763Z", "2020-07-23T13:09:07+00:00"),
    ("2020-01-25T07:31:56.377+09:00", "2020-01-25T07:31:56+09:00"),
    ("2020-01-25T07:31:56-0500", "2020-01-25T07:31:56-05:00"),
    ("2020-01-25 07:31:56+00", "2020-01-25T07:31:56+00:00"),
    ("2020-01-25 07:31:56+05:30", "2020-01-25T07:31:56+05:30"),
])
def test_a_loose_signing_time_keeps_its_stated_zone(text: str, expected: str) -> None:
    quirks: list[str] = []
    moment = loose_time(text, quirks)
    assert moment is not None and moment.isoformat() == expected and quirks == []


@pytest.mark.parametrize("text", ["2020-07-16 16:04:27", "2020-07-16-16-04-27"])
def test_a_loose_signing_time_without_a_zone_is_china_time_and_noted(text: str) -> None:
    quirks: list[str] = []
    moment = loose_time(text, quirks)
    assert moment is not None and moment.isoformat() == "2020-07-16T16:04:27+08:00"
    assert quirks and "has no zone" in quirks[0]
