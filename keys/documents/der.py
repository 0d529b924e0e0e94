"""A small, lenient DER reader and a strict DER writer, for the structures seals and certificates use.

Lenient where real seal systems bend X.690 (the issue lists them): INTEGERs without the 0x00 pad,
UTCTime text inside a GeneralizedTime, GBK bytes inside UTF8String. Each bend is returned as a quirk for
the report to name. Signatures are always checked over the bytes as they were found, never over a
re-encoding, so reading leniently cannot make a bad signature good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from .errors import DocumentError

MAX_DEPTH = 24

SEQUENCE, SET = 0x30, 0x31
INTEGER, BIT_STRING, OCTET_STRING, NULL, OID = 0x02, 0x03, 0x04, 0x05, 0x06
UTF8, PRINTABLE, IA5, T61, BMP, UNIVERSAL_STR = 0x0C, 0x13, 0x16, 0x14, 0x1E, 0x1C
UTC_TIME, GENERALIZED_TIME = 0x17, 0x18
_STRING_TAGS = {UTF8, PRINTABLE, IA5, T61, BMP, UNIVERSAL_STR, 0x12, 0x1A}


def _bad(what: str) -> DocumentError:
    return DocumentError(f"签名数据格式不正确（{what}）。", f"Malformed signature data ({what}).")


@dataclass(frozen=True)
class Node:
    """One TLV: `raw` is the whole encoding as found (what signatures cover), `value` its contents."""

    tag: int
    raw: bytes
    value: bytes
    depth: int = 0

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def children(self) -> list[Node]:
        if not self.constructed:
            raise _bad(f"tag {self.tag:#x} is not constructed")
        if self.depth >= MAX_DEPTH:
            raise _bad("nested too deeply")
        out, pos = [], 0
        while pos < len(self.value):
            node, pos = _read(self.value, pos, self.depth + 1)
            out.append(node)
        return out

    def expect(self, tag: int, what: str) -> Node:
        if self.tag != tag:
            raise _bad(f"{what}: tag {self.tag:#x}, expected {tag:#x}")
        return self

    def items(self, what: str, at_least: int = 0) -> list[Node]:
        kids = self.children()
        if len(kids) < at_least:
            raise _bad(f"{what}: {len(kids)} fields, expected at least {at_least}")
        return kids

    def integer(self, quirks: list[str] | None = None) -> int:
        """Signed per X.690; a quirk list given means the caller wants unsigned values read leniently."""
        self.expect(INTEGER, "INTEGER")
        if not self.value:
            raise _bad("empty INTEGER")
        if quirks is not None and self.value[0] & 0x80:
            quirks.append("INTEGER without the 0x00 pad, read as unsigned")
            return int.from_bytes(self.value, "big")
        return int.from_bytes(self.value, "big", signed=True)

    def oid(self) -> str:
        self.expect(OID, "OBJECT IDENTIFIER")
        if not self.value or self.value[-1] & 0x80:
            raise _bad("bad OBJECT IDENTIFIER")
        arcs, n = [], 0
        for byte in self.value:
            n = (n << 7) | (byte & 0x7F)
            if not byte & 0x80:
                arcs.append(n)
                n = 0
        first = min(arcs[0] // 40, 2)
        return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])

    def octets(self) -> bytes:
        return self.expect(OCTET_STRING, "OCTET STRING").value

    def bits(self) -> bytes:
        """A BIT STRING's bytes; every use here (signatures, hashes) is a whole number of bytes."""
        self.expect(BIT_STRING, "BIT STRING")
        if not self.value or self.value[0] != 0:
            raise _bad("BIT STRING with unused bits")
        return self.value[1:]

    def text(self, quirks: list[str]) -> str:
        if self.tag not in _STRING_TAGS:
            raise _bad(f"tag {self.tag:#x} is not a string")
        if self.tag == BMP:
            return self.value.decode("utf-16-be", errors="replace")
        try:
            return self.value.decode("utf-8")
        except UnicodeDecodeError:
            pass
        try:
            text = self.value.decode("gbk")
        except UnicodeDecodeError:
            quirks.append("undecodable bytes in a string, shown replaced")
            return self.value.decode("utf-8", errors="replace")
        quirks.append("GBK bytes inside a UTF8String, read as GBK")
        return text

    def time(self, quirks: list[str]) -> datetime:
        if self.tag not in (UTC_TIME, GENERALIZED_TIME):
            raise _bad(f"tag {self.tag:#x} is not a time")
        text = self.value.decode("ascii", errors="replace")
        return parse_time_text(text, utc_time=self.tag == UTC_TIME, quirks=quirks)


def parse_time_text(text: str, utc_time: bool, quirks: list[str]) -> datetime:
    body = text.rstrip("Z")
    digits = body.split(".")[0]
    if not digits.isdigit() or len(digits) not in (12, 14):
        raise _bad(f"time {text!r}")
    if len(digits) == 12:
        if not utc_time:
            quirks.append("UTCTime text inside a GeneralizedTime, read as UTCTime")
        year = int(digits[:2])
        digits = str(1900 + year if year >= 50 else 2000 + year) + digits[2:]
    elif utc_time:
        quirks.append("GeneralizedTime text inside a UTCTime, read as GeneralizedTime")
    try:
        return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise _bad(f"time {text!r}") from None


def _read(data: bytes, pos: int, depth: int) -> tuple[Node, int]:
    start = pos
    if pos + 2 > len(data):
        raise _bad("truncated")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _bad("multi-byte tag")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise _bad("indefinite length")
        if count > 4 or pos + count > len(data):
            raise _bad("length too large")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise _bad("length past the end")
    return Node(tag, data[start:end], data[pos:end], depth), end


def parse(data: bytes) -> Node:
    """Exactly one TLV; trailing bytes are refused (they could hide a second structure)."""
    node, end = _read(bytes(data), 0, 0)
    if end != len(data):
        raise _bad("bytes after the end")
    return node


# --- writer: strict DER, for the seals and certificates this project makes -------------------------------

def tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + value


def seq(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    return tlv(SET, b"".join(sorted(items)))


def integer(n: int) -> bytes:
    return tlv(INTEGER, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID, bytes(out))


def octets(b: bytes) -> bytes:
    return tlv(OCTET_STRING, b)


def bits(b: bytes) -> bytes:
    return tlv(BIT_STRING, b"\x00" + b)


def utf8(s: str) -> bytes:
    return tlv(UTF8, s.encode("utf-8"))


def ia5(s: str) -> bytes:
    return tlv(IA5, s.encode("ascii"))


def gtime(moment: datetime) -> bytes:
    return tlv(GENERALIZED_TIME, moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode())


def utctime(moment: datetime) -> bytes:
    return tlv(UTC_TIME, moment.astimezone(UTC).strftime("%y%m%d%H%M%SZ").encode())


def explicit(number: int, inner: bytes) -> bytes:
    return tlv(0xA0 | number, inner)
