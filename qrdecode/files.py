"""An e-certificate file, read the same way by the scanner and the service: its kind, its seal report
(OFD), and the QR codes in its images.

An OFD's seals are checked and its page images listed by keys.documents; a photo or screenshot is one
image; a PDF's images are read here, without a PDF library (JPEG as it is, 8-bit grey or RGB Flate as
PNG). Limits on pixels and image counts keep a hostile file's cost small whoever reads it.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np
from PIL import Image

from keys.documents import Certificate, DocumentReport, verify_document
from keys.errors import CraneError

from .decode import Code, DecodeError, decode_image

MAX_PIXELS = 40_000_000
MAX_IMAGES = 40
MAX_IMAGE_DICTS = 1000      # real PDFs have a few; a file with more is not searched further
_PICTURES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg"}
# What a file of each kind cannot tell, said the same way by the scanner and the service.
PICTURE_NOTE = ("图片无法核验电子签章，只核验了二维码 a seal cannot be checked from a picture: "
                "only its QR code was checked")
PDF_NOTE = "PDF 的签名未核验，只核验了二维码 the PDF's signature is not checked: only its QR codes were"
NO_PDF_IMAGE_NOTE = "PDF 中没有可读取的图片 no image in the PDF could be read"
NO_CODE_NOTE = "文件中没有找到二维码 no QR code found in the file"
UNCOVERED_NOTE = ("未被签章覆盖的图片不查找二维码 images no seal covers are not searched for QR codes: "
                  "anyone can have put them there")


class UnsupportedFile(CraneError):
    def __init__(self) -> None:
        super().__init__("不是 OFD、PDF 或图片文件 not an OFD, PDF or picture file")


@dataclass(frozen=True)
class FileContents:
    """What a file holds: its kind (ofd | pdf | png | jpeg), its seal report (OFD only), its codes, and
    notes on what could not be checked."""

    format: str
    report: DocumentReport | None
    codes: tuple[Code, ...]
    notes: tuple[str, ...]


def read_file(data: bytes, now: datetime, roots: Sequence[Certificate]) -> FileContents:
    """Raises UnsupportedFile for another kind of file, and keys.documents' DocumentError for an OFD that
    cannot be read or is refused as hostile."""
    kind = sniff(data)
    report = None
    notes: list[str] = []
    if kind == "ofd":
        report = verify_document(data, now, roots)
        # The file's seal vouches only for what it covers: a code in an image added outside it must not
        # borrow the seal's "file intact" (keys.documents.ImageResource.covered).
        images = [img.data for img in report.images if img.covered]
        if len(images) < len(report.images):
            notes.append(UNCOVERED_NOTE)
    elif kind == "pdf":
        notes.append(PDF_NOTE)
        images = list(pdf_images(data))
        if not images:
            notes.append(NO_PDF_IMAGE_NOTE)
    elif kind in ("png", "jpeg"):
        notes.append(PICTURE_NOTE)
        images = [data]
    else:
        raise UnsupportedFile()
    codes = distinct_codes(images)
    if not codes:
        notes.append(NO_CODE_NOTE)
    return FileContents(kind, report, tuple(codes), tuple(notes))
_IMAGE_SUBTYPE = re.compile(rb"/Subtype\s*/Image\b")


def sniff(data: bytes) -> str:
    """ofd | pdf | png | jpeg | unknown, by the file's first bytes, never by its name."""
    if data.startswith(b"PK\x03\x04"):
        return "ofd"
    if b"%PDF-" in data[:1024]:       # readers accept junk before the header
        return "pdf"
    return next((kind for magic, kind in _PICTURES.items() if data.startswith(magic)), "unknown")


def codes_in(data: bytes) -> list[Code]:
    """Codes in one image's bytes; an image too large or unreadable gives none."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                return []
    except (OSError, ValueError, Image.DecompressionBombError):
        return []
    grey = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
    if grey is None or min(grey.shape[:2]) < 11:
        return []
    try:
        return decode_image(grey)
    except DecodeError:
        return []


def distinct_codes(images: list[bytes]) -> list[Code]:
    """The codes found in the images, one per text, in the order found (at most MAX_IMAGES images read)."""
    seen: dict[str, Code] = {}
    for image in images[:MAX_IMAGES]:
        for code in codes_in(image):
            seen.setdefault(code.text, code)
    return list(seen.values())


def _number(header: bytes, key: bytes) -> int | None:
    match = re.search(rb"/" + key + rb"\s+(\d+)(?!\s+\d+\s+R)", header)
    return int(match.group(1)) if match else None


def pdf_images(data: bytes) -> Iterator[bytes]:
    """JPEG (DCTDecode) images as they are, and 8-bit grey or RGB Flate images as PNG; others skipped.
    Each image dictionary is found by its /Subtype /Image and read up to its stream, so the work is
    linear in the file, whatever it holds."""
    found = 0
    for index, match in enumerate(_IMAGE_SUBTYPE.finditer(data)):
        if index >= MAX_IMAGE_DICTS:
            return
        begin = data.rfind(b" obj", max(0, match.start() - 2000), match.start())
        stream = data.find(b"stream", match.end(), match.end() + 2000)
        if begin < 0 or stream < 0:
            continue
        header = data[begin:stream]
        start = stream + 6 + (2 if data[stream + 6:stream + 8] == b"\r\n" else 1)
        length = _number(header, b"Length")
        end = start + length if length is not None else data.find(b"endstream", start)
        if end < start or end > len(data):
            continue
        body = data[start:end]
        if b"/DCTDecode" in header:
            yield body
        elif b"/FlateDecode" in header and b"/DecodeParms" not in header:
            png = _flate_image(header, body)
            if png is None:
                continue
            yield png
        else:
            continue
        found += 1
        if found >= MAX_IMAGES:
            return


def _flate_image(header: bytes, body: bytes) -> bytes | None:
    width, height = _number(header, b"Width"), _number(header, b"Height")
    bits = _number(header, b"BitsPerComponent")
    channels = 1 if b"/DeviceGray" in header else 3 if b"/DeviceRGB" in header else None
    if not (width and height and bits == 8 and channels) or width * height > MAX_PIXELS:
        return None
    expected = width * height * channels
    try:
        inflater = zlib.decompressobj()
        pixels = inflater.decompress(body, expected)
    except zlib.error:
        return None
    if len(pixels) != expected:
        return None
    array = np.frombuffer(pixels, np.uint8).reshape((height, width, channels) if channels == 3 else (height, width))
    ok, png = cv2.imencode(".png", array[:, :, ::-1] if channels == 3 else array)
    return png.tobytes() if ok else None
