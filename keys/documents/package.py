"""Opening an OFD package (a zip) and its XML defensively, before anything else looks at it.

Every limit is on bytes actually decompressed: a member's declared sizes are not trusted, only used to
refuse early. XML goes through defusedxml with DTDs refused (so no entities, no billion laughs) and a
nesting limit, since a hostile file is as likely as a damaged one.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from .errors import DocumentError

MAX_PACKAGE = 50 * 1024 * 1024       # the file itself
MAX_MEMBER = 32 * 1024 * 1024        # one member, decompressed
MAX_TOTAL = 128 * 1024 * 1024        # all members, decompressed
MAX_MEMBERS = 2000
MAX_RATIO = 200                      # decompressed/compressed, for members past RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
MAX_XML_DEPTH = 64
_CHUNK = 256 * 1024


def _refuse(zh: str, en: str) -> DocumentError:
    return DocumentError(f"文件被拒绝：{zh}。", f"File refused: {en}.")


@dataclass(frozen=True)
class Package:
    """The members of a package by their path inside it, without a leading slash. A member that does
    not decompress (a bad CRC: a byte changed inside the zip) is left out and named in `damaged`, so
    the references to it fail instead of the whole file being unreadable."""

    files: dict[str, bytes]
    damaged: tuple[str, ...] = ()

    @classmethod
    def open(cls, data: bytes) -> Package:
        if len(data) > MAX_PACKAGE:
            raise _refuse(f"超过 {MAX_PACKAGE // 2**20} MB", f"larger than {MAX_PACKAGE // 2**20} MB")
        if _declared_count(data) > MAX_MEMBERS:
            raise _refuse(f"包内文件超过 {MAX_MEMBERS} 个", f"more than {MAX_MEMBERS} files in the package")
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            infos = archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, NotImplementedError):
            raise DocumentError("不是 OFD 文件（无法作为 zip 包打开）。",
                                "Not an OFD file (it does not open as a zip package).") from None
        if len(infos) > MAX_MEMBERS:
            raise _refuse(f"包内文件超过 {MAX_MEMBERS} 个", f"more than {MAX_MEMBERS} files in the package")
        files: dict[str, bytes] = {}
        damaged: list[str] = []
        total = 0
        for info in infos:
            name = _safe_name(info.filename)
            if info.is_dir():
                continue
            if name in files or name in damaged:
                raise _refuse(f"包内文件名重复：{name}", f"the package holds {name} twice")
            if info.flag_bits & 0x1:
                raise _refuse(f"包内文件加密：{name}", f"{name} is encrypted")
            if info.file_size > MAX_MEMBER:
                raise _refuse(f"包内文件过大：{name}", f"{name} declares more than {MAX_MEMBER // 2**20} MB")
            body = _read_member(archive, info, MAX_TOTAL - total)
            if body is None:
                damaged.append(name)
                continue
            total += len(body)
            files[name] = body
        return cls(files, tuple(damaged))

    def get(self, name: str) -> bytes | None:
        return self.files.get(name)


def _declared_count(data: bytes) -> int:
    """The entry count of the end-of-central-directory record, read before zipfile builds its (unbounded)
    list of entries; 0xFFFF (ZIP64, which no OFD needs) counts as too many."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if at < 0 or at + 22 > len(data):
        return 0
    return int.from_bytes(data[at + 10:at + 12], "little") or 0


def _safe_name(raw: str) -> str:
    name = raw.replace("\\", "/")
    parts = name.split("/")
    if (not name or name.startswith("/") or "\x00" in name or ".." in parts
            or (len(parts[0]) == 2 and parts[0][1] == ":")):
        raise _refuse(f"包内路径不安全：{raw[:80]!r}", f"unsafe path in the package: {raw[:80]!r}")
    return name


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, room: int) -> bytes | None:
    """The member's bytes; None when it does not decompress or fails its CRC."""
    out = bytearray()
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                out += chunk
                if len(out) > MAX_MEMBER or len(out) > room:
                    raise _refuse("解压后过大（压缩炸弹）", "too large once decompressed (a zip bomb)")
                if len(out) > RATIO_FLOOR and len(out) > MAX_RATIO * max(info.compress_size, 1):
                    raise _refuse("压缩比异常（压缩炸弹）", "implausible compression ratio (a zip bomb)")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, ValueError, RuntimeError):
        return None
    return bytes(out)


def resolve(base_dir: str, loc: str) -> str:
    """A path inside the package, from an OFD location: absolute from the package root, else relative to
    the folder of the file that names it (GB/T 33190 §7.5). Never outside the package."""
    loc = loc.strip().replace("\\", "/")
    joined = loc.lstrip("/") if loc.startswith("/") else posixpath.join(base_dir, loc)
    path = posixpath.normpath(joined) if joined else ""
    if not path or path == "." or path.startswith("../") or path == "..":
        raise _refuse(f"文档中的路径不安全：{loc[:80]!r}", f"unsafe path in the document: {loc[:80]!r}")
    return path


def parse_xml(data: bytes, name: str) -> Element:
    """An XML file of the package; DTDs (and so entities) refused, nesting bounded."""
    try:
        depth = 0
        root: Element | None = None
        for event, element in safe_et.iterparse(io.BytesIO(data), events=("start", "end"), forbid_dtd=True):
            if event == "start":
                depth += 1
                root = root if root is not None else element
                if depth > MAX_XML_DEPTH:
                    raise _refuse(f"{name} 嵌套过深", f"{name} is nested too deeply")
            else:
                depth -= 1
    except DefusedXmlException:
        raise _refuse(f"{name} 含有 DTD 或实体", f"{name} carries a DTD or entities") from None
    except (safe_et.ParseError, ValueError, UnicodeError, LookupError):
        raise DocumentError(f"{name} 不是有效的 XML。", f"{name} is not well-formed XML.") from None
    if root is None:
        raise DocumentError(f"{name} 是空的。", f"{name} is empty.")
    return root


def local(tag: str) -> str:
    """A tag without its namespace: vendors write ofd: under more than one namespace URI."""
    return tag.rsplit("}", 1)[-1]


def child(element: Element, name: str) -> Element | None:
    return next((c for c in element if local(c.tag) == name), None)


def children(element: Element, name: str) -> list[Element]:
    return [c for c in element if local(c.tag) == name]


def text_of(element: Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""
