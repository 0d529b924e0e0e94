"""Find and decode QR codes in images.

zxing-cpp reads most codes, and fast, so it goes first on the image as given. Only when it finds
nothing do the retries run, each on a prepared copy of the image, and the first step that finds
anything wins. Each retry earns its place on ../shared/qr-samples (the zxing-cpp test images, all
four rotations) or on synthetic camera-like and hard shots; bench/decode.py measures the gain. The last
step, OpenCV's WeChat reader (qrdecode.wechat), is the costliest and reads what the others give up on;
where it runs and why: docs/decoder.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from ctypes import c_void_p, cast, string_at
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import zxingcpp
from pyzbar import wrapper as zbar

from . import wechat

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})

# The smallest symbol (Micro QR M1) is 11 modules wide; fewer pixels than that cannot hold a code.
_MIN_SIDE = 11


class Engine(StrEnum):
    ZXING = "zxing"
    ZBAR = "zbar"
    OPENCV = "opencv"
    WECHAT = "wechat"


Point = tuple[float, float]


@dataclass(frozen=True)
class Code:
    """One decoded symbol.

    points: the symbol's own top-left, top-right, bottom-right and bottom-left corners (finder
    patterns define "top-left", so a code photographed upside down starts at the bottom right of
    the picture), in pixels of the image as read, EXIF orientation ignored.
    raw: the payload bytes before any character set decoding, when the engine reports them.
    """

    text: str
    points: tuple[Point, Point, Point, Point]
    engine: Engine
    raw: bytes | None = None


class DecodeError(ValueError):
    """An input that is not an image we can search: unreadable, not an image, or degenerate."""

    def __init__(self, path: Path | None, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path is not None else reason)


def read_image(path: str | os.PathLike[str], *, grey: bool = False) -> np.ndarray:
    """Read an image file (BGR, or single-channel with grey=True), EXIF orientation ignored."""
    path = Path(path)
    try:
        # np.fromfile + imdecode rather than imread: imread says nothing about why it failed.
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DecodeError(path, e.strerror or str(e)) from e
    flags = cv2.IMREAD_IGNORE_ORIENTATION | (cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    img = _quiet_imdecode(data, flags) if data.size else None
    if img is None:
        raise DecodeError(path, "not a readable image")
    if min(img.shape[:2]) < _MIN_SIDE:
        raise DecodeError(path, f"image is only {img.shape[1]}x{img.shape[0]} pixels")
    return img


def _quiet_imdecode(data: np.ndarray, flags: int) -> np.ndarray | None:
    # OpenCV 4 logs a C++ error with its source lines to stderr for a truncated file; the caller
    # names the file in a sentence instead.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(data, flags)
    finally:
        cv2.utils.logging.setLogLevel(level)


def decode_file(path: str | os.PathLike[str]) -> list[Code]:
    # Every engine works on grey; letting the JPEG decoder skip colour saves a third of the read.
    return decode_image(read_image(path, grey=True))


def decode_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[Path, list[Code] | DecodeError]]:
    """Decode files and, recursively, the images in folders (by suffix), in path order.

    A file named directly is tried whatever its suffix. Errors are yielded, not raised, so that
    one bad file does not stop a batch.
    """
    for p in map(Path, paths):
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()) if p.is_dir() else [p]
        for f in files:
            try:
                yield f, decode_file(f)
            except DecodeError as e:
                yield f, e


def decode_image(img: np.ndarray, *, fast: bool = False) -> list[Code]:
    """Every QR code found in a BGR, BGRA or grey uint8 image.

    fast=True runs only the first zxing-cpp pass: for live video, where the next frame is the retry.
    """
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise DecodeError(None, f"expected a grey or BGR uint8 image, got {img.dtype} {img.shape}")
    if img.size == 0:
        return []
    grey = _grey(img)
    views: dict[str, tuple[np.ndarray, float]] = {}
    for step in _CASCADE[:1] if fast else _CASCADE:
        if step.view not in views:
            views[step.view] = _VIEWS[step.view](grey)
        work, scale = views[step.view]
        codes = step.engine(work)
        if codes:
            found = [_unscale(c, scale) for c in codes]
            # A symbol seen but not read beside the ones read: the one case where WeChat after a
            # success added a code on seeded sheets of many codes (docs/decoder.md).
            for later in _CASCADE if not fast and _unread_beside(codes) else ():
                if later.engine is _wechat:
                    work, scale = views.get(later.view) or _VIEWS[later.view](grey)
                    found += [_unscale(c, scale) for c in later.engine(work)]
            return _merge(found)
    return []


def _unread_beside(codes: list[Code]) -> bool:
    """Whether the engine saw a symbol it could not read that is not one of the codes it read."""
    centres = [_centre(quad) for quad in getattr(codes, "unread", ())]
    return any(not any(_inside(centre, c.points) for c in codes) for centre in centres)


def _grey(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        img = cv2.cvtColor(img, code)
    return np.ascontiguousarray(img)


# --- preprocessing views: name -> (image, scale from original pixels to view pixels) ---

def _retry_cap(grey: np.ndarray) -> float:
    # Retries on a large photo run on a downscaled copy: the fast pass already searched the full
    # resolution, and zbar and OpenCV on 12 megapixels take a second each.
    return min(1.0, 2048 / max(grey.shape))


def _resized(grey: np.ndarray) -> tuple[np.ndarray, float]:
    # Small images (the usual crop or screenshot) get modules of several pixels.
    if max(grey.shape) >= 1024:
        return _capped(grey)
    return cv2.resize(grey, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC), 2.0


def _blur(view: tuple[np.ndarray, float]) -> tuple[np.ndarray, float]:
    # Evens out JPEG blocks, print dots and the stairs of upscaling, which break binarizers.
    return cv2.GaussianBlur(view[0], (5, 5), 0), view[1]


def _capped(grey: np.ndarray) -> tuple[np.ndarray, float]:
    scale = _retry_cap(grey)
    return (grey if scale == 1.0 else cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)), scale


_VIEWS: dict[str, Callable[[np.ndarray], tuple[np.ndarray, float]]] = {
    "as given": lambda grey: (grey, 1.0),
    "resized": _resized,
    "resized, blurred": lambda grey: _blur(_resized(grey)),
    "blurred": lambda grey: _blur(_capped(grey)),
    "at most 2048 px": _capped,
}


# --- engines: grey uint8 image -> codes in that image's pixels ---

class _Found(list[Code]):
    """Codes an engine read, and where it saw symbols it could not read (their corners, same pixels)."""

    def __init__(self, codes: Iterable[Code], unread: Iterable[tuple[Point, ...]] = ()) -> None:
        super().__init__(codes)
        self.unread = list(unread)


def _zxing(binarizer: zxingcpp.Binarizer) -> Callable[[np.ndarray], list[Code]]:
    def read(grey: np.ndarray) -> list[Code]:
        found = zxingcpp.read_barcodes(
            grey,
            formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),  # the QR family: Model 1 and 2, Micro, rMQR
            text_mode=zxingcpp.TextMode.Plain,  # HRI would turn control characters into <GS> etc.
            binarizer=binarizer,
            return_errors=True,  # symbols found but not read cost nothing more to report
        )
        return _Found((Code(b.text, _zxing_points(b.position), Engine.ZXING, b.bytes) for b in found if b.valid),
                      (_zxing_points(b.position) for b in found if not b.valid))

    return read


def _zxing_points(p: zxingcpp.Position) -> tuple[Point, Point, Point, Point]:
    return _quad((c.x, c.y) for c in (p.top_left, p.top_right, p.bottom_right, p.bottom_left))


def _quad(corners: Iterable[tuple[float, float]]) -> tuple[Point, Point, Point, Point]:
    a, b, c, d = ((float(x), float(y)) for x, y in corners)
    return a, b, c, d


_ZBAR_CFG_BINARY = 4  # zbar.h's ZBAR_CFG_BINARY (zbar >= 0.23), missing from pyzbar's enum
_ZBAR_Y800 = 0x30303859  # fourcc "Y800": 8-bit grey


def _zbar_scan(grey: np.ndarray, binary: bool) -> list[tuple[bytes, tuple[Point, Point, Point, Point]]]:
    # pyzbar.decode() returns a convex hull, which loses which corner is which, and cannot ask for
    # raw bytes; its ctypes bindings can.
    pixels = grey.tobytes()
    scanner = zbar.zbar_image_scanner_create()
    image = zbar.zbar_image_create()
    try:
        zbar.zbar_image_scanner_set_config(scanner, 0, zbar.ZBarConfig.CFG_ENABLE, 0)
        zbar.zbar_image_scanner_set_config(scanner, zbar.ZBarSymbol.QRCODE, zbar.ZBarConfig.CFG_ENABLE, 1)
        zbar.zbar_image_scanner_set_config(scanner, zbar.ZBarSymbol.QRCODE, _ZBAR_CFG_BINARY, int(binary))
        zbar.zbar_image_set_format(image, _ZBAR_Y800)
        zbar.zbar_image_set_size(image, grey.shape[1], grey.shape[0])
        zbar.zbar_image_set_data(image, cast(pixels, c_void_p), len(pixels), None)  # type: ignore[arg-type]
        zbar.zbar_scan_image(scanner, image)
        found = []
        symbol = zbar.zbar_image_first_symbol(image)
        while symbol:
            data = string_at(zbar.zbar_symbol_get_data(symbol), zbar.zbar_symbol_get_data_length(symbol))
            # zbar lists a QR symbol's corners counter-clockwise from its top-left.
            loc = [(zbar.zbar_symbol_get_loc_x(symbol, i), zbar.zbar_symbol_get_loc_y(symbol, i))
                   for i in range(zbar.zbar_symbol_get_loc_size(symbol))]
            if len(loc) == 4:
                found.append((data, _quad((loc[0], loc[3], loc[2], loc[1]))))
            symbol = zbar.zbar_symbol_next(symbol)
        return found
    finally:
        zbar.zbar_image_destroy(image)
        zbar.zbar_image_scanner_destroy(scanner)


def _zbar(grey: np.ndarray) -> list[Code]:
    codes = []
    converted: dict[tuple[Point, ...], bytes] | None = None
    for raw, points in _zbar_scan(grey, binary=True):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            # zbar's own conversion knows the Kanji mode and ECI but misreads some plain UTF-8 as
            # another character set, so it is asked only for what is not UTF-8, in a second scan.
            if converted is None:
                converted = {pts: data for data, pts in _zbar_scan(grey, binary=False)}
            text = converted.get(points, raw).decode("utf-8", "replace")
        codes.append(Code(text, points, Engine.ZBAR, raw))
    return codes


def _opencv(grey: np.ndarray) -> list[Code]:
    try:
        ok, payloads, quads, _ = cv2.QRCodeDetectorAruco().detectAndDecodeBytesMulti(grey)
    except cv2.error:  # raised for modes it does not implement, e.g. Hanzi
        return []
    if not ok:
        return []
    codes = []
    for raw, quad in zip(payloads, quads, strict=True):
        if not raw:  # found but not decoded
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            # OpenCV converts byte mode to UTF-8 itself and passes only Kanji mode through raw.
            text = raw.decode("shift_jis", "replace")
        codes.append(Code(text, _quad(quad), Engine.OPENCV, raw))
    return codes


def _wechat(grey: np.ndarray) -> list[Code]:
    try:
        reader = wechat.shared_reader()
    except wechat.WeChatModelError:
        # A broken install costs this step, not the scan: the CLI names the problem once
        # (scanner.cli), and library callers see it from wechat.shared_reader().
        return []
    return [Code(text, _quad(quad), Engine.WECHAT) for text, quad in reader.read(grey)]


@dataclass(frozen=True)
class _Step:
    name: str
    engine: Callable[[np.ndarray], list[Code]]
    view: str


# Codes lost when a retry is left out (python -m bench.decode; samples at four rotations / 300
# camera-like shots / 120 hard shots): zxing-cpp resized 0/4/0, global histogram 3/0/0, zbar 1/3/1,
# OpenCV 0/2/0, WeChat 1/3/4. Running WeChat, or every step, after a success as well adds 1 code of
# 555 on seeded sheets of many codes (docs/decoder.md), on a sheet where zxing-cpp had seen symbols it
# could not read: so the first step to find anything wins, and WeChat follows a success only then.
_CASCADE = (
    _Step("zxing-cpp", _zxing(zxingcpp.Binarizer.LocalAverage), "as given"),
    _Step("zxing-cpp", _zxing(zxingcpp.Binarizer.LocalAverage), "resized, blurred"),
    _Step("zxing-cpp, global histogram", _zxing(zxingcpp.Binarizer.GlobalHistogram), "resized, blurred"),
    _Step("zbar", _zbar, "blurred"),
    _Step("OpenCV", _opencv, "resized"),  # blur costs OpenCV's detector more than it gains
    _Step("WeChat", _wechat, "at most 2048 px"),
)


def _unscale(code: Code, scale: float) -> Code:
    if scale == 1.0:
        return code
    return Code(code.text, _quad((x / scale, y / scale) for x, y in code.points), code.engine, code.raw)


def _merge(codes: list[Code]) -> list[Code]:
    """Drop repeats: the same text where one symbol's centre lies inside the other."""
    kept: list[Code] = []
    for code in codes:
        centre = _centre(code.points)
        if not any(k.text == code.text and _inside(centre, k.points) for k in kept):
            kept.append(code)
    return kept


def _centre(polygon: Any) -> Point:
    x, y = np.mean(np.asarray(polygon, dtype=np.float64), axis=0)
    return float(x), float(y)


def _inside(point: Point, polygon: tuple[Point, ...]) -> bool:
    contour = np.array(polygon, dtype=np.float32).reshape(-1, 1, 2)
    return cv2.pointPolygonTest(contour, point, False) >= 0
