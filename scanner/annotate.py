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

from qrdecode.decode import IMAGE_SUFFIXES

from .verdicts import Finding, Mark

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
    for font, face in candidates:
        if _has_cjk(font, face):
            return font, face
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
    """The label's words; the icon is drawn beside the first line (CJK fonts lack ✔ ✖ ⚠)."""
    verdict = finding.answer.verdict
    certificate = finding.answer.certificate or {}
    number = certificate.get("registration_no")
    lines = [verdict.zh, verdict.en] if cjk else [verdict.en]
    if number:
        line = f"{number} v{certificate.get('version', '?')}"
        lines.append(line if cjk else _ascii(line))
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
        x, y = pts[0]  # the symbol's own top-left corner: orientation at a glance
        r = width * 2
        pen.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        size = int(min(max(14, side / 9, shorter / 45), 64))
        face, cjk = font(size)
        _label(pen, out.size, pts, label_lines(finding, cjk), face, finding.mark)
    return out


def _label(pen: ImageDraw.ImageDraw, size: tuple[int, int], pts: list[tuple[float, float]], lines: list[str],
           face, mark: Mark) -> None:
    pad = 4
    boxes = [pen.textbbox((0, 0), line or " ", font=face) for line in lines]
    line_h = max(b[3] - b[1] for b in boxes) + pad
    icon = line_h  # a square beside the first line
    w = max(b[2] - b[0] + (icon if i == 0 else 0) for i, b in enumerate(boxes)) + 2 * pad
    h = line_h * len(lines) + pad
    left = min(p[0] for p in pts)
    top = min(p[1] for p in pts) - h - pad
    if top < 0:  # no room above the code: below it
        top = max(p[1] for p in pts) + pad
    left = int(min(max(0, left), max(0, size[0] - w)))
    top = int(min(max(0, top), max(0, size[1] - h)))
    pen.rectangle((left, top, left + w, top + h), fill=mark.rgb)
    draw_icon(pen, mark, (left + pad, top + pad, left + pad + icon - pad, top + pad + icon - pad), face)
    for i, line in enumerate(lines):
        x = left + pad + (icon if i == 0 else 0)
        pen.text((x, top + pad + i * line_h - boxes[i][1]), line, font=face, fill=(255, 255, 255))


def draw_icon(pen: ImageDraw.ImageDraw, mark: Mark, box: tuple[float, float, float, float], face) -> None:
    """✔ ✖ ⚠ ? drawn as shapes in white, so they show whatever glyphs the font has."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    stroke = max(2, int(w / 6))
    white = (255, 255, 255)
    if mark is Mark.OK:
        pen.line([(x0 + 0.1 * w, y0 + 0.55 * h), (x0 + 0.4 * w, y0 + 0.85 * h), (x0 + 0.9 * w, y0 + 0.2 * h)],
                 fill=white, width=stroke, joint="curve")
    elif mark is Mark.BAD:
        pen.line([(x0 + 0.15 * w, y0 + 0.15 * h), (x0 + 0.85 * w, y0 + 0.85 * h)], fill=white, width=stroke)
        pen.line([(x0 + 0.85 * w, y0 + 0.15 * h), (x0 + 0.15 * w, y0 + 0.85 * h)], fill=white, width=stroke)
    elif mark is Mark.WARN:
        pen.polygon([(x0 + 0.5 * w, y0 + 0.05 * h), (x1, y1 - 0.05 * h), (x0, y1 - 0.05 * h)], outline=white,
                    width=max(1, stroke // 2))
        pen.line([(x0 + 0.5 * w, y0 + 0.35 * h), (x0 + 0.5 * w, y0 + 0.68 * h)], fill=white, width=max(1, stroke // 2))
        pen.point((x0 + 0.5 * w, y0 + 0.8 * h), fill=white)
        r = max(1, stroke / 3)
        pen.ellipse((x0 + 0.5 * w - r, y0 + 0.8 * h - r, x0 + 0.5 * w + r, y0 + 0.8 * h + r), fill=white)
    else:
        bbox = pen.textbbox((0, 0), "?", font=face)
        pen.text((x0 + (w - (bbox[2] - bbox[0])) / 2 - bbox[0], y0 + (h - (bbox[3] - bbox[1])) / 2 - bbox[1]), "?",
                 font=face, fill=white)


def bgr_to_pil(bgr: np.ndarray) -> Image.Image:
    if bgr.ndim == 2:
        return Image.fromarray(bgr, "L")
    return Image.fromarray(np.ascontiguousarray(bgr[:, :, 2::-1]), "RGB")


def pil_to_bgr(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])




def output_path(out_dir: Path, source: Path, frame: int | None, taken: set[Path]) -> Path:
    suffix = source.suffix.lower() if source.suffix.lower() in IMAGE_SUFFIXES and frame is None else ".jpg"
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
    if path.suffix in (".jpg", ".jpeg", ".webp"):
        image.save(path, quality=92)
    else:
        image.save(path)
    return path
