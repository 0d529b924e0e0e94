"""Hostile packages are refused with a clear message (Chinese, then English), quickly, and nothing else
escapes: zip bombs, path traversal, billion laughs, a declared 1 GB member, deep nesting."""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib

import pytest

from keys.documents import DocumentError, verify_document
from keys.documents.sealing import write_package

from .conftest import NOW
from .edit import edited, members

OFD_XML = (b'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody>'
           b'<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>')


def refused(data: bytes) -> DocumentError:
    """The error, after checking it came within a second of CPU time (wall time is noisy on a shared box)."""
    started = time.process_time()
    with pytest.raises(DocumentError) as info:
        verify_document(data, NOW)
    assert time.process_time() - started < 1.0
    message = str(info.value)
    assert message == f"{info.value.zh} {info.value.en}" and any("\u4e00" <= c <= "\u9fff" for c in info.value.zh)
    return info.value


def _zip(entries: list[tuple[str, bytes]], level: int = 9) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name), data, zipfile.ZIP_DEFLATED, level)
    return out.getvalue()


def test_zip_bomb_is_refused() -> None:
    bomb = _zip([("OFD.xml", OFD_XML), ("Doc_0/Res/zeros.bin", bytes(30 * 1024 * 1024))], level=1)
    assert len(bomb) < 500_000
    assert "zip bomb" in refused(bomb).en


def test_many_small_bombs_are_refused() -> None:
    chunk = bytes(3 * 1024 * 1024)
    assert "zip bomb" in refused(_zip([("OFD.xml", OFD_XML)] + [(f"z{i}", chunk) for i in range(60)], 1)).en


def test_too_many_members_are_refused() -> None:
    assert "more than 2000 files" in refused(_zip([(f"f{i}", b"") for i in range(2001)], 1)).en


@pytest.mark.parametrize("name", ["../evil.xml", "/etc/passwd", "Doc_0/../../evil", "C:/evil", "..\\evil"])
def test_path_traversal_is_refused(name: str) -> None:
    assert "unsafe path" in refused(_zip([("OFD.xml", OFD_XML), (name, b"x")])).en


def test_traversal_in_a_document_path_is_refused(issued) -> None:
    changed = edited(issued.document, "Doc_0/Signs/Sign_1/Signature.xml",
                     lambda x: x.replace(b'FileRef="/Doc_0/Res/qr.png"', b'FileRef="/../../etc/passwd"'))
    assert "unsafe path in the document" in refused(changed).en


def test_duplicate_member_names_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("OFD.xml", OFD_XML)
        archive.writestr("OFD.xml", OFD_XML)
    assert "twice" in refused(out.getvalue()).en


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                             for i in range(1, 10))
                  + b']><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016">&lol9;</ofd:OFD>')


def test_billion_laughs_is_refused() -> None:
    assert "DTD or entities" in refused(_zip([("OFD.xml", BILLION_LAUGHS)])).en


def test_billion_laughs_in_a_signature_is_refused(issued) -> None:
    changed = edited(issued.document, "Doc_0/Signs/Sign_1/Signature.xml", lambda _: BILLION_LAUGHS)
    assert "DTD or entities" in refused(changed).en


def test_external_entity_is_refused() -> None:
    xxe = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016">&x;</ofd:OFD>')
    assert "DTD or entities" in refused(_zip([("OFD.xml", xxe)])).en


def _declare_size(archive: bytes, name: bytes, size: int) -> bytes:
    """Rewrite a member's uncompressed size in its local header and the central directory."""
    data = bytearray(archive)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = 0
        while (at := data.find(signature, at)) >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(name)] == name:
                data[at + offset:at + offset + 4] = struct.pack("<I", size)
            at += 4
    return bytes(data)


def test_a_declared_1_gb_member_is_refused() -> None:
    archive = _declare_size(_zip([("OFD.xml", OFD_XML), ("Doc_0/big.bin", b"small")]), b"Doc_0/big.bin", 1 << 30)
    assert "declares more than" in refused(archive).en


def test_a_member_larger_than_declared_is_not_read_past_its_declaration() -> None:
    archive = _declare_size(_zip([("OFD.xml", OFD_XML), ("Doc_0/big.bin", bytes(4 << 20))]), b"Doc_0/big.bin", 100)
    started = time.process_time()
    report = verify_document(archive, NOW)
    assert time.process_time() - started < 1.0
    assert not report.intact and report.notes[0].endswith("(it does not decompress): Doc_0/big.bin")


def test_deeply_nested_xml_is_refused() -> None:
    deep = b'<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016">' + b"<a>" * 50_000 + b"</a>" * 50_000 + b"</ofd:OFD>"
    assert "nested too deeply" in refused(_zip([("OFD.xml", deep)])).en


def test_deeply_nested_der_fails_the_signature_not_the_reader(issued) -> None:
    nested = b""
    for _ in range(2000):
        nested = b"\x30\x84" + struct.pack(">I", len(nested)) + nested
    changed = edited(issued.document, "Doc_0/Signs/Sign_1/SignedValue.dat", lambda _: nested)
    started = time.process_time()
    sig, = verify_document(changed, NOW).signatures
    assert time.process_time() - started < 1.0
    assert sig.signature_valid is False and sig.format.value == "unknown" and not sig.intact


@pytest.mark.parametrize("data", [b"", b"not a zip", b"PK\x03\x04broken", zlib.compress(b"x" * 100)])
def test_not_a_package_is_said_plainly(data: bytes) -> None:
    assert refused(data).en.startswith("Not an OFD file")


def test_a_package_without_ofd_xml_is_not_an_ofd() -> None:
    assert refused(_zip([("Doc_0/Document.xml", b"<x/>")])).en == "Not an OFD file (no OFD.xml)."


def test_an_oversized_file_is_refused() -> None:
    assert "larger than 50 MB" in refused(bytes(50 * 1024 * 1024 + 1)).en


def test_an_encrypted_member_is_refused(issued) -> None:
    files = members(issued.document)
    archive = bytearray(write_package(files))
    at = archive.find(b"PK\x01\x02")
    archive[at + 8] |= 1                      # general purpose flag: encrypted
    assert refused(bytes(archive)).en.startswith("File refused")
