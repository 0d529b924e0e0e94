"""Hypothesis on the entry points that read attacker bytes (DER, zip, XML, signed values): nothing but
DocumentError escapes, and a signature built from junk never verifies."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys.documents import DocumentError, verify_document
from keys.documents import der as d
from keys.documents.certs import Certificate
from keys.documents.package import Package, parse_xml

from .conftest import NOW
from .edit import edited

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _tlv(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    tags = st.sampled_from([0x30, 0x31, 0x02, 0x03, 0x04, 0x06, 0x0C, 0x13, 0x16, 0x17, 0x18, 0xA0, 0xA3])
    return st.builds(lambda tag, body: d.tlv(tag, body), tags, children)


# DER-shaped junk reaches deeper than random bytes: nested TLVs of the tags seals and certificates use.
der_like = st.recursive(st.binary(max_size=40), lambda inner: _tlv(st.lists(inner, max_size=5).map(b"".join)),
                        max_leaves=30)


@FUZZ
@given(st.one_of(st.binary(max_size=300), der_like))
def test_der_and_certificate_reader_raise_only_document_error(data: bytes) -> None:
    try:
        node = d.parse(data)
        if node.constructed:
            node.children()
        Certificate.parse(data)
    except DocumentError:
        pass


@FUZZ
@given(st.one_of(st.binary(max_size=400), der_like))
def test_junk_signed_value_never_verifies(issued, data: bytes) -> None:
    changed = edited(issued.document, "Doc_0/Signs/Sign_1/SignedValue.dat", lambda _: data)
    sig, = verify_document(changed, NOW).signatures
    assert sig.signature_valid is not True and not sig.intact


@FUZZ
@given(st.binary(max_size=600))
def test_package_reader_raises_only_document_error(data: bytes) -> None:
    try:
        Package.open(b"PK\x03\x04" + data)
    except DocumentError:
        pass


@FUZZ
@given(st.data())
def test_a_mutated_package_raises_only_document_error(issued, data: st.DataObject) -> None:
    raw = bytearray(issued.document)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        verify_document(bytes(raw), NOW)
    except DocumentError:
        pass


xml_text = st.one_of(
    st.text(max_size=200).map(lambda s: s.encode("utf-8")),
    st.lists(st.sampled_from(["<a>", "</a>", "<ofd:OFD>", "<!DOCTYPE x>", "<!ENTITY e 'x'>", "&e;", "<?xml?>",
                              "<b x='1'/>", "text", "\x00", "]]>", "<![CDATA["]), max_size=30).map(
        lambda parts: "".join(parts).encode("utf-8")),
)


@FUZZ
@given(xml_text)
def test_xml_reader_raises_only_document_error(data: bytes) -> None:
    try:
        parse_xml(data, "x.xml")
    except DocumentError:
        pass


@FUZZ
@given(xml_text, st.sampled_from(["OFD.xml", "Doc_0/Signs/Signatures.xml", "Doc_0/Signs/Sign_1/Signature.xml",
                                  "Doc_0/Document.xml", "Doc_0/DocumentRes.xml"]))
def test_junk_xml_members_raise_only_document_error(issued, data: bytes, member: str) -> None:
    try:
        report = verify_document(edited(issued.document, member, lambda _: data), NOW)
    except DocumentError:
        return
    if member != "Doc_0/DocumentRes.xml":
        assert not report.intact
