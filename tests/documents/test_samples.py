"""Real signed OFD files from other software give the outcomes ../shared/ofd-samples/README.md states."""

from __future__ import annotations

import pytest

from keys.documents import SignatureFormat, verify_document

from .conftest import NOW, sample

# file -> per signature: (format, signature_valid, seal_valid, references checked, references bad), intact
EXPECTED = {
    "SESV4SignDoc.ofd": ([(SignatureFormat.SES_V4, True, True, 5, ())], True),
    "allprotected.ofd": ([(SignatureFormat.SES_V4, True, True, 6, ())], True),
    "h.ofd": ([(SignatureFormat.SES_V4, True, True, 9, ()), (SignatureFormat.SES_V4, True, True, 11, ())], True),
    "n.ofd": ([(SignatureFormat.SES_V1, False, True, 6,
                ("Doc_0/Document.xml", "Doc_0/Pages/Page_0/Content.xml", "Doc_0/Pages/Page_1/Content.xml",
                 "Doc_0/PublicRes.xml", "OFD.xml", "Doc_0/Signs/Sign_0/Seal.esl"))], False),
    "testImageNotFound.ofd": ([(SignatureFormat.GBT_35275, True, None, 14, ()),
                               (SignatureFormat.GBT_35275, True, None, 19, ())], True),
    "zsbk.ofd": ([(SignatureFormat.SES_V4, True, True, 23,
                   ("Doc_0/Pages/Page_1/Content.xml", "Doc_0/Pages/Page_0/Content.xml")),
                  (SignatureFormat.SES_V4, True, True, 26,
                   ("Doc_0/Pages/Page_1/Content.xml", "Doc_0/Pages/Page_0/Content.xml"))], False),
    "1.ofd": ([(SignatureFormat.SES_V4, True, True, 13, ())], True),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_gives_its_readme_outcome(name: str) -> None:
    report = verify_document(sample(name), NOW)
    expected, intact = EXPECTED[name]
    got = [(s.format, s.signature_valid, s.seal_valid, s.references_checked, s.references_bad)
           for s in report.signatures]
    assert got == expected
    assert report.intact is intact
    # Without a configured root nobody is trusted, and the report says who signed instead.
    for sig in report.signatures:
        assert sig.trusted is False
        assert any(n.startswith("不可信 not trusted: signed by ") and "not a trusted root here" in n for n in sig.notes)


def test_signatures_xml_changed_by_a_later_seal_is_explained_not_tampering() -> None:
    report = verify_document(sample("h.ofd"), NOW)
    first, second = report.signatures
    assert (first.id, second.id) == ("s001", "s007")
    assert first.references_bad == () and first.references_explained == ("Doc_0/Signs/Signatures.xml",)
    assert any("GB/T 33190 §18" in n for n in first.notes)
    assert second.references_explained == ()
    assert report.intact


def test_signer_certificate_is_reported_with_its_validity() -> None:
    sig = verify_document(sample("SESV4SignDoc.ofd"), NOW).signatures[0]
    assert sig.signer is not None
    assert sig.signer.subject.startswith("CN=Test Certificate")
    assert "CN=OFD Reader and WriterROOT Certificate" in sig.signer.issuer
    assert (sig.signer.not_before.date().isoformat(), sig.signer.not_after.date().isoformat()) == (
        "2020-04-21", "2022-04-21")
    # This file's SES timeInfo (2026-08-04) lies outside that validity: said, and not a broken signature.
    assert sig.signer_valid_at_signing is False
    assert any("outside the signer certificate's validity" in n for n in sig.notes)


def test_gbt_35275_signer_comes_from_the_cms_certificates() -> None:
    for sig in verify_document(sample("testImageNotFound.ofd"), NOW).signatures:
        assert sig.signer is not None and "CN=YNCA_SM2" in sig.signer.issuer


def test_raw_sm2_signature_verifies_with_the_known_certificate(ofdrw) -> None:
    data = sample("DigitalSign.ofd")
    alone = verify_document(data, NOW).signatures[0]
    assert (alone.format, alone.signature_valid) == (SignatureFormat.RAW_SM2, None)
    assert not alone.intact
    sig = verify_document(data, NOW, known_certificates=[ofdrw["USER"].certificate]).signatures[0]
    assert (sig.format, sig.type.value, sig.signature_valid, sig.references_checked, sig.references_bad) == (
        SignatureFormat.RAW_SM2, "sign", True, 4, ())
    # Another certificate does not verify it.
    other = verify_document(data, NOW, known_certificates=[ofdrw["SealBuilder"].certificate]).signatures[0]
    assert other.signature_valid is None


def test_the_qr_of_a_real_certificate_is_listed_as_a_page_image() -> None:
    images = verify_document(sample("zsbk.ofd"), NOW).images
    qr = [i for i in images if i.path == "Doc_0/Res/image_657.png"]
    assert qr and qr[0].media_type == "image/png" and qr[0].pages == (1,)
    assert qr[0].data.startswith(b"\x89PNG")


def test_public_json_has_exactly_the_documented_shape() -> None:
    out = verify_document(sample("h.ofd"), NOW).to_json("h.ofd")
    assert list(out) == ["file", "format", "intact", "signatures", "codes"]
    assert (out["file"], out["format"], out["intact"], out["codes"]) == ("h.ofd", "ofd", True, [])
    sig = out["signatures"][0]
    assert list(sig) == ["id", "type", "format", "signature_valid", "seal_valid", "references_bad", "signer",
                         "trusted", "notes"]
    assert list(sig["signer"]) == ["subject", "issuer", "not_before", "not_after"]
    assert (sig["id"], sig["type"], sig["format"]) == ("s001", "seal", "ses-v4")
    assert sig["signer"]["not_before"] == "2020-04-21T14:39:08Z"
    n = verify_document(sample("n.ofd"), NOW).to_json("n.ofd")["signatures"][0]
    assert n["references_bad"][0] == "Doc_0/Document.xml"      # package paths, no leading slash


def test_a_seal_whose_certificate_list_names_no_signer_is_never_trusted() -> None:
    """The maker's signature over n.ofd's seal holds (its README's outcome), but the seal names no signer, so a
    genuine seal like it would pass with any signer: it is said, and such a seal is never trusted."""
    sig, = verify_document(sample("n.ofd"), NOW).signatures
    assert sig.seal_valid is True and sig.trusted is False
    assert any("so it does not show the signer's certificate" in n for n in sig.notes)
