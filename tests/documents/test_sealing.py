"""Seals this project makes (SES v4 and v1) verify, with the ofdrw test keys and with the demo seal PKI, and
every tampering is caught: a byte in a page, in Signature.xml, in the seal; a reference removed; another key."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from keys.algorithms import Alg, PrivateKey
from keys.documents import SignatureFormat, gm, verify_document
from keys.documents import der as d
from keys.documents.layout import QR_MM, certificate_ofd, seal_picture
from keys.documents.seal_keys import make_seal_certificate, make_seal_root
from keys.documents.sealing import SealSpec, seal_ofd, write_package
from qrdecode.files import UNCOVERED_NOTE, read_file

from .conftest import NOW, OFDRW_TIME, sample
from .edit import edited, flip, members

PAGE = "Doc_0/Pages/Page_0/Content.xml"
SIGN = "Doc_0/Signs/Sign_1"


@pytest.fixture(scope="module")
def plain(issued) -> bytes:
    return certificate_ofd(issued.record, issued.qr_text)


@pytest.mark.parametrize("version,fmt", [(4, SignatureFormat.SES_V4), (1, SignatureFormat.SES_V1)])
def test_seal_made_with_the_ofdrw_keys_verifies(ofdrw, plain: bytes, version: int, fmt: SignatureFormat) -> None:
    spec = SealSpec("OFD R&W 测试用印章", seal_picture("测试"))
    sealed = seal_ofd(plain, ofdrw["USER"], spec, OFDRW_TIME, maker=ofdrw["SealBuilder"], version=version)
    report = verify_document(sealed, NOW)
    sig, = report.signatures
    assert (sig.format, sig.signature_valid, sig.seal_valid, sig.references_bad) == (fmt, True, True, ())
    assert sig.signer is not None and sig.signer.subject.startswith("CN=Test Certificate")
    assert sig.signer_valid_at_signing is True and sig.signed_at == OFDRW_TIME
    assert report.intact and report.unsigned_files == ()
    assert not sig.trusted


@pytest.mark.parametrize("esl,version", [("UserV4.esl", 4), ("UserV1.esl", 1)])
def test_seal_made_by_ofdrw_signed_here_verifies(ofdrw, plain: bytes, esl: str, version: int) -> None:
    """The seal structure other software writes (ofdrw's .esl files) goes through both SES paths."""
    spec = SealSpec("ofdrw", b"")
    sealed = seal_ofd(plain, ofdrw["USER"], spec, OFDRW_TIME, version=version, esl=sample(esl))
    sig, = verify_document(sealed, NOW).signatures
    assert (sig.signature_valid, sig.seal_valid, sig.references_bad) == (True, True, ())
    assert sig.format.value == f"ses-v{version}"


def test_demo_document_verifies_fully_against_its_seal_root(issued, pki) -> None:
    report = verify_document(issued.document, NOW, roots=[pki.root.certificate])
    sig, = report.signatures
    assert report.intact and sig.trusted
    assert (sig.signature_valid, sig.seal_valid, sig.references_bad) == (True, True, ())
    assert sig.seal_name == f"{issued.record.issuer.name}（演示）"
    assert any(n.startswith("可信 trusted: chains to trusted root CN=演示印章根") for n in sig.notes)


def test_demo_document_layout(issued) -> None:
    files = members(issued.document)
    page = files[PAGE].decode("utf-8")
    assert "演示 DEMO" in page and "无法律效力" in page and "建筑起重机械使用登记证书" in page
    assert issued.record.registration_no in page and issued.record.equipment.factory_serial in page
    assert "0 0 210 297" in files["Doc_0/Document.xml"].decode()           # A4
    qr_box = re.search(r'<ofd:ImageObject [^>]*ResourceID="3" Boundary="[\d.]+ [\d.]+ ([\d.]+) ([\d.]+)"', page)
    assert qr_box and min(float(qr_box.group(1)), float(qr_box.group(2))) >= 25 and QR_MM >= 25
    image, = verify_document(issued.document, NOW).images
    assert image.media_type == "image/png" and image.pages == (1,)
    seal_info = d.parse(files[f"{SIGN}/Seal.esl"]).children()[0]
    picture = seal_info.children()[3].children()
    assert picture[0].value == b"PNG" and picture[1].octets().startswith(b"\x89PNG")


def test_an_issuer_name_matching_a_trusted_root_is_not_trust(issued, pki) -> None:
    """A certificate whose issuer name is the trusted root's, signed by another key, is not trusted."""
    impostor_root = make_seal_root(pki.root.certificate.subject_cn, NOW - timedelta(days=3))
    assert impostor_root.certificate.subject_name == pki.root.certificate.subject_name
    forged = make_seal_certificate(impostor_root, "沈阳市城乡建设局", NOW - timedelta(days=3))
    sealed = seal_ofd(certificate_ofd(issued.record, issued.qr_text), forged, SealSpec("x", b""), NOW - timedelta(days=1))
    sig, = verify_document(sealed, NOW, roots=[pki.root.certificate]).signatures
    assert sig.signature_valid is True and sig.trusted is False
    assert "issuer name matches trusted root" in sig.trust_note and "does not verify" in sig.trust_note


def test_seal_maker_must_chain_too(issued, pki) -> None:
    outsider = make_seal_root("制章系统 Seal Maker", NOW - timedelta(days=3))
    sealed = seal_ofd(certificate_ofd(issued.record, issued.qr_text), pki.seal, SealSpec("x", b""),
                      NOW - timedelta(days=1), maker=outsider)
    sig, = verify_document(sealed, NOW, roots=[pki.root.certificate]).signatures
    assert sig.seal_valid is True and sig.trusted is False and sig.trust_note.startswith("seal maker:")


def _report(document: bytes, pki):
    return verify_document(document, NOW, roots=[pki.root.certificate])


def test_a_byte_changed_in_a_page_is_caught(issued, pki) -> None:
    report = _report(edited(issued.document, PAGE, flip(300)), pki)
    sig, = report.signatures
    assert not report.intact and sig.references_bad == (PAGE,) and sig.signature_valid is True
    assert any("changed or missing since signing: " + PAGE in n for n in sig.notes)


def test_a_byte_changed_in_signature_xml_is_caught(issued, pki) -> None:
    changed = edited(issued.document, f"{SIGN}/Signature.xml",
                     lambda x: x.replace(b"<ofd:SignatureDateTime>2026", b"<ofd:SignatureDateTime>2025"))
    sig, = _report(changed, pki).signatures
    assert sig.signature_valid is False
    assert any("dataHash does not match" in n for n in sig.notes)


def test_a_byte_changed_in_the_seal_file_is_caught(issued, pki) -> None:
    sig, = _report(edited(issued.document, f"{SIGN}/Seal.esl", flip(-40)), pki).signatures
    assert sig.seal_valid is False and f"{SIGN}/Seal.esl" in sig.references_bad


def test_a_byte_changed_in_the_embedded_seal_is_caught(issued, pki) -> None:
    def in_picture(value: bytes) -> bytes:
        at = value.index(b"IDAT") + 20          # inside the seal picture, inside the SESeal, inside TBS_Sign
        return value[:at] + bytes([value[at] ^ 1]) + value[at + 1:]
    sig, = _report(edited(issued.document, f"{SIGN}/SignedValue.dat", in_picture), pki).signatures
    assert sig.seal_valid is False and sig.signature_valid is False
    assert any("seal maker's signature over the seal does not verify" in n for n in sig.notes)


def test_a_reference_removed_from_signature_xml_is_caught(issued, pki) -> None:
    changed = edited(issued.document, f"{SIGN}/Signature.xml",
                     lambda x: re.sub(rb'<ofd:Reference FileRef="/Doc_0/Pages/[^"]+">.*?</ofd:Reference>', b"", x))
    sig, = _report(changed, pki).signatures
    assert sig.signature_valid is False and not sig.intact


def test_a_referenced_file_removed_from_the_package_is_caught(issued, pki) -> None:
    report = _report(edited(issued.document, "Doc_0/Res/qr.png", lambda _: None), pki)
    assert report.signatures[0].references_bad == ("Doc_0/Res/qr.png",) and not report.intact


def test_a_signature_made_with_another_key_is_caught(issued, pki) -> None:
    """The signed value re-signed by a key that is not the certificate's."""
    other = PrivateKey.generate(Alg.SM2)

    def resign(value: bytes) -> bytes:
        top = d.parse(value).children()
        tbs, cert, alg = top[0], top[1], top[2]
        return d.seq(tbs.raw, cert.raw, alg.raw, d.bits(gm.sign(other, tbs.raw)))
    sig, = _report(edited(issued.document, f"{SIGN}/SignedValue.dat", resign), pki).signatures
    assert sig.signature_valid is False and not sig.intact


def test_resealed_by_someone_else_is_valid_but_not_trusted(issued, pki) -> None:
    stranger_root = make_seal_root("Stranger Root", NOW - timedelta(days=3))
    stranger = make_seal_certificate(stranger_root, "沈阳市城乡建设局", NOW - timedelta(days=3))
    files = members(issued.document)
    files[PAGE] = files[PAGE].replace(issued.record.user.name.encode(), "某某公司".encode())
    unsealed = {k: v for k, v in files.items() if "/Signs/" not in k}
    unsealed["OFD.xml"] = re.sub(rb"<ofd:Signatures>[^<]*</ofd:Signatures>", b"", unsealed["OFD.xml"])
    resealed = seal_ofd(write_package(unsealed), stranger, SealSpec("x", b""), NOW - timedelta(hours=1))
    sig, = _report(resealed, pki).signatures
    assert sig.intact and not sig.trusted and "Stranger Root" in sig.signer.issuer


def test_a_second_seal_keeps_the_first_intact(issued, pki) -> None:
    twice = seal_ofd(issued.document, pki.seal, SealSpec("第二枚 second", b""), NOW - timedelta(hours=2))
    report = _report(twice, pki)
    assert [s.id for s in report.signatures] == ["s001", "s002"]
    assert report.intact and all(s.trusted for s in report.signatures)


def test_unsigned_files_are_named(issued, pki) -> None:
    assert _report(issued.document, pki).unsigned_files == ()
    files = members(issued.document)
    files["Doc_0/Res/extra.png"] = b"\x89PNG not signed"
    report = _report(write_package(files), pki)
    assert report.unsigned_files == ("Doc_0/Res/extra.png",)
    assert all(any("files covered by no signature: Doc_0/Res/extra.png" in n for n in s.notes)
               for s in report.signatures)


def test_relative_base_locations_are_followed(issued, pki) -> None:
    changed = edited(issued.document, "Doc_0/Signs/Signatures.xml",
                     lambda x: x.replace(b'BaseLoc="/Doc_0/Signs/Sign_1/Signature.xml"', b'BaseLoc="Sign_1/Signature.xml"'))
    assert _report(changed, pki).intact


def test_an_unknown_check_method_checks_nothing(issued, pki) -> None:
    changed = edited(issued.document, f"{SIGN}/Signature.xml",
                     lambda x: x.replace(b'CheckMethod="1.2.156.10197.1.401"', b'CheckMethod="1.2.3.4"'))
    sig, = _report(changed, pki).signatures
    assert not sig.intact and len(sig.references_bad) == sig.references_checked > 0


def test_several_documents_each_with_their_seals(issued, pki, plain: bytes) -> None:
    files = members(plain)
    for name in [n for n in files if n.startswith("Doc_0/")]:
        files["Doc_1/" + name[len("Doc_0/"):]] = files[name]
    body = files["OFD.xml"].decode().split("<ofd:DocBody>")[1].split("</ofd:DocBody>")[0]
    bodies = [body.replace("</ofd:DocRoot>", f"</ofd:DocRoot><ofd:Signatures>Doc_{i}/Signs/Signatures.xml"
                                              "</ofd:Signatures>").replace("Doc_0/", f"Doc_{i}/") for i in (0, 1)]
    files["OFD.xml"] = files["OFD.xml"].decode().replace(body, "</ofd:DocBody><ofd:DocBody>".join(bodies)).encode()
    package = write_package(files)
    first = seal_ofd(package, pki.seal, SealSpec("一 first", b""), NOW - timedelta(hours=3))
    both = seal_ofd(first, pki.seal, SealSpec("二 second", b""), NOW - timedelta(hours=2), document=1)
    report = _report(both, pki)
    assert [s.path for s in report.signatures] == ["Doc_0/Signs/Sign_1/Signature.xml",
                                                   "Doc_1/Signs/Sign_1/Signature.xml"]
    assert report.intact and len(report.images) == 2
    # The second document's page changed: only its seal's reference (and the first's, which covers it) fail.
    changed = _report(edited(both, "Doc_1/Pages/Page_0/Content.xml", flip(100)), pki)
    assert [s.references_bad for s in changed.signatures] == [("Doc_1/Pages/Page_0/Content.xml",)] * 2


def test_a_seal_dated_before_its_root_was_valid_is_not_trusted(issued, pki, plain: bytes) -> None:
    early = pki.root.certificate.not_before - timedelta(days=1)
    sig, = _report(seal_ofd(plain, pki.seal, SealSpec("x", b""), early), pki).signatures
    assert sig.signature_valid is True and sig.signer_valid_at_signing is False
    assert sig.trusted is False and "was not valid at the signing time" in sig.trust_note


def test_a_missing_signature_list_is_not_intact_and_said(issued, pki) -> None:
    report = _report(edited(issued.document, "Doc_0/Signs/Signatures.xml", lambda _: None), pki)
    assert not report.intact and report.signatures == ()
    assert report.notes[0].endswith("the signature list Doc_0/Signs/Signatures.xml is missing")


def test_a_signature_covering_no_file_is_not_intact(pki, plain: bytes) -> None:
    """References emptied before signing: the signature verifies, but protects nothing."""
    sealed = seal_ofd(plain, pki.seal, SealSpec("x", b""), NOW - timedelta(hours=1))
    files = members(sealed)
    xml = re.sub(rb"<ofd:References .*?</ofd:References>", b"", files["Doc_0/Signs/Sign_1/Signature.xml"])
    files["Doc_0/Signs/Sign_1/Signature.xml"] = xml
    top = d.parse(files["Doc_0/Signs/Sign_1/SignedValue.dat"]).children()
    tbs = top[0].children()
    new_tbs = d.seq(tbs[0].raw, tbs[1].raw, tbs[2].raw, d.bits(gm.sm3(xml)), tbs[4].raw)
    files["Doc_0/Signs/Sign_1/SignedValue.dat"] = d.seq(new_tbs, top[1].raw, top[2].raw,
                                                        d.bits(gm.sign(pki.seal.key, new_tbs)))
    sig, = _report(write_package(files), pki).signatures
    assert sig.signature_valid is True and sig.references_checked == 0 and not sig.intact
    assert any("covers no file" in n for n in sig.notes)


def test_a_byte_changed_inside_the_zip_itself_is_not_intact(issued, pki) -> None:
    """The page's compressed bytes changed in the .ofd file: the member fails its CRC, its reference fails."""
    raw = bytearray(issued.document)
    name = PAGE.encode()
    header = raw.find(b"PK\x03\x04")
    while raw[header + 30:header + 30 + len(name)] != name:
        header = raw.find(b"PK\x03\x04", header + 4)
    name_len = int.from_bytes(raw[header + 26:header + 28], "little")
    extra_len = int.from_bytes(raw[header + 28:header + 30], "little")
    compressed = int.from_bytes(raw[header + 18:header + 22], "little")
    raw[header + 30 + name_len + extra_len + compressed // 2] ^= 0x10
    report = _report(bytes(raw), pki)
    assert not report.intact and report.signatures[0].references_bad == (PAGE,)
    assert any(PAGE in n and "does not decompress" in n for n in report.notes)


def test_a_genuine_seal_used_by_another_signer_is_not_valid(issued, pki, plain: bytes) -> None:
    """The seal of the demo document, lifted and signed with another certificate from the same root."""
    genuine_seal = members(issued.document)[f"{SIGN}/Seal.esl"]
    other = make_seal_certificate(pki.root, "另一单位 another office", NOW - timedelta(days=3))
    lifted = seal_ofd(plain, other, SealSpec("x", b""), NOW - timedelta(hours=1), esl=genuine_seal)
    sig, = _report(lifted, pki).signatures
    assert sig.signature_valid is True and sig.trusted is True      # the signer is who they say
    assert sig.seal_valid is False and not sig.intact                 # but the seal is not theirs
    assert any("not among the seal's certificates" in n for n in sig.notes)


def test_a_code_in_an_image_added_after_sealing_is_not_vouched_for(issued, pki, plain: bytes) -> None:
    """A sealed file whose resources name an image the seal does not cover: whoever adds that image later
    keeps the seal intact, so its code must not be read as the sealed file's (neither by keys.documents'
    report nor by the file reader the service and scanner share)."""
    files = members(plain)
    qr_png = files.pop("Doc_0/Res/qr.png")
    sealed = seal_ofd(write_package(files), pki.seal, SealSpec("x", b""), NOW - timedelta(hours=1), maker=pki.root)
    added = write_package({**members(sealed), "Doc_0/Res/qr.png": qr_png})
    report = _report(added, pki)
    assert report.intact and report.unsigned_files == ("Doc_0/Res/qr.png",)  # the definition of intact
    image, = report.images
    assert image.path == "Doc_0/Res/qr.png" and not image.covered
    contents = read_file(added, NOW, [pki.root.certificate])
    assert contents.codes == () and UNCOVERED_NOTE in contents.notes
    # The same image sealed with the file is covered, and its code read.
    assert _report(issued.document, pki).images[0].covered
    assert [c.text for c in read_file(issued.document, NOW, [pki.root.certificate]).codes] == [issued.qr_text]
