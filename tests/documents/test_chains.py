"""GB/T 35275 signatures built here, and the chains their certificates make: an intermediate CA is
followed, a leaf certificate vouching for another it signed is not."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta

from keys.documents import SignatureFormat, gm, verify_document
from keys.documents import der as d
from keys.documents.seal_keys import SealIdentity, make_seal_certificate
from keys.documents.sealing import write_package

from .conftest import NOW
from .edit import edited, members

SIGN = "Doc_0/Signs/Sign_1"
SIGNED_DATA, DATA = "1.2.156.10197.6.1.4.2.2", "1.2.156.10197.6.1.4.2.1"


def cms(signer: SealIdentity, content: bytes, carried: list[SealIdentity]) -> bytes:
    """SignedData as GB/T 35275 lays it out: detached content, SM3 messageDigest, SM2 over the attributes."""
    attrs = [d.seq(d.oid("1.2.840.113549.1.9.3"), d.set_of(d.oid(DATA))),
             d.seq(d.oid("1.2.840.113549.1.9.4"), d.set_of(d.octets(gm.sm3(content)))),
             d.seq(d.oid("1.2.840.113549.1.9.5"), d.set_of(d.utctime(NOW - timedelta(hours=1))))]
    signed_attrs = d.set_of(*attrs)
    cert = d.parse(signer.certificate.tbs).children()
    issuer_and_serial = d.seq(cert[3].raw, cert[1].raw)           # after the [0] version: serial, alg, issuer
    signer_info = d.seq(d.integer(1), issuer_and_serial, d.seq(d.oid(gm.SM3)),
                        d.tlv(0xA0, d.parse(signed_attrs).value), d.seq(d.oid(gm.SM2_SIGN)),
                        d.octets(gm.sign(signer.key, signed_attrs)))
    body = d.seq(d.integer(1), d.set_of(d.seq(d.oid(gm.SM3))), d.seq(d.oid(DATA)),
                 d.tlv(0xA0, b"".join(c.certificate.der for c in carried)), d.set_of(signer_info))
    return d.seq(d.oid(SIGNED_DATA), d.explicit(0, body))


def _signed(document: bytes, signer: SealIdentity, carried: list[SealIdentity]) -> bytes:
    xml = members(document)[f"{SIGN}/Signature.xml"]
    return edited(document, f"{SIGN}/SignedValue.dat", lambda _: cms(signer, xml, carried))


def test_a_gbt_35275_signature_made_here_verifies_and_chains(issued, pki) -> None:
    sig, = verify_document(_signed(issued.document, pki.seal, [pki.seal]), NOW,
                           roots=[pki.root.certificate]).signatures
    assert (sig.format, sig.signature_valid, sig.references_bad, sig.trusted) == (
        SignatureFormat.GBT_35275, True, (), True)
    assert sig.signed_at == NOW - timedelta(hours=1)


def test_a_gbt_35275_signature_over_another_file_fails(issued, pki) -> None:
    document = edited(issued.document, f"{SIGN}/SignedValue.dat", lambda _: cms(pki.seal, b"<other/>", [pki.seal]))
    sig, = verify_document(document, NOW, roots=[pki.root.certificate]).signatures
    assert sig.signature_valid is False and any("messageDigest does not match" in n for n in sig.notes)


def test_an_intermediate_ca_carried_in_the_signature_is_followed(issued, pki) -> None:
    intermediate = make_seal_certificate(pki.root, "省级制章中心 Provincial seal CA", NOW - timedelta(days=5), ca=True)
    signer = make_seal_certificate(intermediate, "沈阳市城乡建设局", NOW - timedelta(days=5))
    with_it = verify_document(_signed(issued.document, signer, [signer, intermediate]), NOW,
                              roots=[pki.root.certificate]).signatures[0]
    assert with_it.signature_valid and with_it.trusted
    without = verify_document(_signed(issued.document, signer, [signer]), NOW,
                              roots=[pki.root.certificate]).signatures[0]
    assert without.signature_valid and not without.trusted


def test_a_leaf_certificate_cannot_vouch_for_another(issued, pki) -> None:
    """The holder of a seal certificate from the trusted root issues a certificate to a name of their
    choosing and carries both: the chain verifies link by link, but a leaf is no CA."""
    forged = make_seal_certificate(pki.seal, "某某省住房和城乡建设厅", NOW - timedelta(days=5))
    sig, = verify_document(_signed(issued.document, forged, [forged, pki.seal]), NOW,
                           roots=[pki.root.certificate]).signatures
    assert sig.signature_valid is True and sig.trusted is False
    assert sig.signer is not None and "某某省住房和城乡建设厅" in sig.signer.subject


def gm0099_signed_data(signer: SealIdentity, content: bytes) -> bytes:
    """As ofdrw writes GB/T 35275 (GM/T 0099 §7.2.2): a bare SignedData carrying SM3 of the content, no
    attributes, the SM2 signature over that digest."""
    digest = gm.sm3(content)
    cert = d.parse(signer.certificate.tbs).children()
    signer_info = d.seq(d.integer(1), d.seq(cert[3].raw, cert[1].raw), d.seq(d.oid(gm.SM3)),
                        d.seq(d.oid(gm.SM2_SIGN)), d.octets(gm.sign(signer.key, digest)))
    return d.seq(d.integer(1), d.set_of(d.seq(d.oid(gm.SM3))),
                 d.seq(d.oid(DATA), d.explicit(0, d.octets(digest))),
                 d.tlv(0xA0, signer.certificate.der), d.set_of(signer_info))


def test_a_bare_signed_data_over_the_digest_verifies(issued, pki) -> None:
    xml = members(issued.document)[f"{SIGN}/Signature.xml"]
    document = edited(issued.document, f"{SIGN}/SignedValue.dat", lambda _: gm0099_signed_data(pki.seal, xml))
    sig, = verify_document(document, NOW, roots=[pki.root.certificate]).signatures
    assert (sig.format, sig.signature_valid, sig.trusted, sig.intact) == (SignatureFormat.GBT_35275, True, True, True)
    assert "宽松读取 read leniently: SignedData not wrapped in a ContentInfo" in sig.notes
    other = edited(issued.document, f"{SIGN}/SignedValue.dat", lambda _: gm0099_signed_data(pki.seal, xml + b" "))
    assert verify_document(other, NOW).signatures[0].signature_valid is False


def test_the_digest_carried_as_base64_text_is_read_and_noted(issued, pki) -> None:
    xml = members(issued.document)[f"{SIGN}/Signature.xml"]
    text = base64.b64encode(gm.sm3(xml))
    cert = d.parse(pki.seal.certificate.tbs).children()
    signer_info = d.seq(d.integer(1), d.seq(cert[3].raw, cert[1].raw), d.seq(d.oid(gm.SM3)),
                        d.seq(d.oid(gm.SM2_SIGN)), d.octets(gm.sign(pki.seal.key, text)))
    value = d.seq(d.oid(SIGNED_DATA), d.explicit(0, d.seq(
        d.integer(1), d.set_of(d.seq(d.oid(gm.SM3))), d.seq(d.oid(DATA), d.explicit(0, d.octets(text))),
        d.tlv(0xA0, pki.seal.certificate.der), d.set_of(signer_info))))
    sig, = verify_document(edited(issued.document, f"{SIGN}/SignedValue.dat", lambda _: value), NOW).signatures
    assert sig.signature_valid is True
    assert "宽松读取 read leniently: content carries the SM3 digest as base64 text" in sig.notes


def test_a_signature_stating_no_time_is_trusted_only_while_its_chain_is_valid_now(issued, pki) -> None:
    """Without a signing time the chain is judged at the time of checking: a certificate long expired (or
    not yet valid) must not pass for want of a time."""
    files = members(issued.document)
    xml = re.sub(rb"<ofd:SignatureDateTime>[^<]*</ofd:SignatureDateTime>", b"", files[f"{SIGN}/Signature.xml"])
    files[f"{SIGN}/Signature.xml"] = xml
    files[f"{SIGN}/SignedValue.dat"] = gm0099_signed_data(pki.seal, xml)
    document = write_package(files)
    now, = verify_document(document, NOW, roots=[pki.root.certificate]).signatures
    assert now.signed_at is None and now.signature_valid and now.trusted
    later, = verify_document(document, NOW + timedelta(days=365 * 40), roots=[pki.root.certificate]).signatures
    assert later.signature_valid and not later.trusted and "was not valid" in later.trust_note


def test_references_by_a_broken_digest_still_check_but_are_warned_of(issued, pki) -> None:
    """MD5 (GB/T 33190's default) and SHA-1 references are read, as old files use them, with a warning."""
    files = members(issued.document)

    def md5_reference(match: re.Match[bytes]) -> bytes:
        name = match.group(1).decode().lstrip("/")
        value = base64.b64encode(hashlib.md5(files[name]).digest()).decode()  # noqa: S324 - the file's choice
        return match.group(0).split(b"<ofd:CheckValue>")[0] + f"<ofd:CheckValue>{value}</ofd:CheckValue>".encode()

    xml = re.sub(rb'<ofd:Reference FileRef="([^"]+)"><ofd:CheckValue>[^<]*</ofd:CheckValue>', md5_reference,
                 files[f"{SIGN}/Signature.xml"])
    xml = re.sub(rb'CheckMethod="[^"]+"', b'CheckMethod="MD5"', xml)
    files[f"{SIGN}/Signature.xml"] = xml
    files[f"{SIGN}/SignedValue.dat"] = gm0099_signed_data(pki.seal, xml)
    sig, = verify_document(write_package(files), NOW, roots=[pki.root.certificate]).signatures
    assert sig.intact and sig.references_checked > 0
    assert any(n.startswith("注意：文件摘要算法 MD5 已不安全") and "a broken digest" in n for n in sig.notes)
    sealed, = verify_document(issued.document, NOW, roots=[pki.root.certificate]).signatures
    assert not any("a broken digest" in n for n in sealed.notes)
