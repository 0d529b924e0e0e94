"""Vendor quirks are read leniently and named in the report; leniency never makes a bad signature good."""

from __future__ import annotations

import base64

from keys.algorithms import Alg, PrivateKey
from keys.documents import der as d
from keys.documents import gm, verify_document

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
