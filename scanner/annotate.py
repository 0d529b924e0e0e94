"""Draw each code's outline and verdict on a copy of the image (Pillow, with a CJK font when there is one).

The Chinese verdict needs a CJK font: Noto Sans CJK SC, found through fc-match or at Debian's path.
Without one the label falls back to the English words and the icon, drawn with Pillow's own font,
so an annotated copy is always written.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .verdicts import Finding

NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", "Source Han Sans SC")
_SAMPLE = "证书有效"


@functools.lru_cache(maxsize=1)
def cjk_font_file() -> tuple[str, int] | None:
    """(path, face index) of a font with Chinese glyphs, or None."""
    candidates: list[tuple[str, int]] = []
    if shutil.which("fc-match"):
        for family in _FAMILIES:
            try:
                out = subprocess.run(["fc-match", "-f", "%{file}\t%{index}", f"{family}:lang=zh-cn"],
                                     capture_output=True, text=True, timeout=5, check=False).stdout
            except (OSError, subprocess.SubprocessError):
                break
            path, _, index = out.partition("\t")
            if path:
                candidates.append((path, int(index) if index.isdigit() else 0))
    if NOTO_CJK.is_file():
        candidates.extend((str(NOTO_CJK), i) for i in (2, 0))  # face 2 of the collection is SC
    for path, index in candidates:
        if _has_cjk(path, index):
            return path, index
    return None


def _has_cjk(path: str, index: int) -> bool:
    try:
        font = ImageFont.truetype(path, 24, index=index)
    except OSError:
        return False
    # A font without the glyphs draws every character as the same .notdef box.
    boxes = {font.getmask(ch).getbbox() for ch in _SAMPLE}
    tofu = font.getmask("\uffff").getbbox()
    return len(boxes) > 1 or tofu not in boxes


@functools.lru_cache(maxsize=32)
def font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    """A font of about `size` pixels and whether it has Chinese glyphs."""
    found = cjk_font_file()
    if found:
        try:
            return ImageFont.truetype(found[0], size, index=found[1]), True
        except OSError:
            pass
    try:
        return ImageFont.load_default(size), False
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default(), False


def label_lines(finding: Finding, cjk: bool) -> list[str]:
    verdict = finding.answer.get("verdict") or {}
    icon = finding.mark.icon
    certificate = finding.answer.get("certificate") or {}
    number = certificate.get("registration_no")
    lines = [f"{icon} {verdict.get('zh', '')}", str(verdict.get("en", ""))] if cjk else [f"{icon} {verdict.get('en', '')}"]
    if number:
        lines.append(f"{number} v{certificate.get('version', '?')}" if cjk else _ascii(f"{number} v{certificate.get('version', '?')}"))
    return lines


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def draw(image: Image.Image, findings: Sequence[Finding]) -> Image.Image:
    """A copy of `image` with every finding's outline and label."""
    out = image.convert("RGB")
    pen = ImageDraw.Draw(out)
    shorter = min(out.size)
    for finding in findings:
        pts = [(float(x), float(y)) for x, y in finding.points]
        side = max(np.hypot(pts[i][0] - pts[(i + 1) % 4][0], pts[i][1] - pts[(i + 1) % 4][1]) for i in range(4))
        width = max(2, int(round(max(side, shorter / 10) / 60)))
        colour = finding.mark.rgb
        pen.line([*pts, pts[0]], fill=colour, width=width, joint="curve")
        for x, y in pts[:1]:  # the symbol's own top-left corner: orientation at a glance
            r = width * 2
            pen.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        size = int(min(max(14, side / 9, shorter / 45), 64))
        face, cjk = font(size)
        _label(pen, out.size, pts, label_lines(finding, cjk), face, colour)
    return out


def _label(pen: ImageDraw.ImageDraw, size: tuple[int, int], pts: list[tuple[float, float]], lines: list[str],
           face, colour: tuple[int, int, int]) -> None:
    pad = 4
    boxes = [pen.textbbox((0, 0), line, font=face) for line in lines]
    line_h = max(b[3] - b[1] for b in boxes) + pad
    w = max(b[2] - b[0] for b in boxes) + 2 * pad
    h = line_h * len(lines) + pad
    left = min(p[0] for p in pts)
    top = min(p[1] for p in pts) - h - pad
    if top < 0:  # no room above the code: below it
        top = max(p[1] for p in pts) + pad
    left = int(min(max(0, left), max(0, size[0] - w)))
    top = int(min(max(0, top), max(0, size[1] - h)))
    pen.rectangle((left, top, left + w, top + h), fill=colour)
    for i, line in enumerate(lines):
        pen.text((left + pad, top + pad + i * line_h - boxes[i][1]), line, font=face, fill=(255, 255, 255))


def bgr_to_pil(bgr: np.ndarray) -> Image.Image:
    if bgr.ndim == 2:
        return Image.fromarray(bgr, "L")
    return Image.fromarray(np.ascontiguousarray(bgr[:, :, 2::-1]), "RGB")


def pil_to_bgr(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


_KEEP_SUFFIX = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def output_path(out_dir: Path, source: Path, frame: int | None, taken: set[Path]) -> Path:
    suffix = source.suffix.lower() if source.suffix.lower() in _KEEP_SUFFIX and frame is None else ".jpg"
    stem = source.stem + (f".frame{frame}" if frame is not None else "") + ".annotated"
    candidate = out_dir / f"{stem}{suffix}"
    n = 2
    # Files left by an earlier run are overwritten; only names given out in this run are avoided
    # (photos of the same name from different folders).
    while candidate in taken:
        candidate = out_dir / f"{stem}-{n}{suffix}"
        n += 1
    taken.add(candidate)
    return candidate


def write(out_dir: Path, source: Path, bgr: np.ndarray, findings: Sequence[Finding], taken: set[Path],
          frame: int | None = None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = output_path(out_dir, source, frame, taken)
    image = draw(bgr_to_pil(bgr), findings)
    params = {"quality": 92} if path.suffix in (".jpg", ".jpeg", ".webp") else {}
    image.save(path, **params)
    return path
