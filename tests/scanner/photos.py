"""Synthetic site photos of QR codes: a certificate printed on paper, photographed at an angle on a site.

Each photo pastes one or more codes (the demo's own PNGs, or segno renderings of any text) onto a
textured background with a perspective warp, then adds what a phone camera on a site adds: blur, a
glare blob, sensor noise and JPEG compression. Everything random comes from one seeded numpy
generator, so a photo is the same on every run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import segno


def qr_grey(text: str | None = None, png: str | Path | None = None, scale: int = 6, border: int = 4) -> np.ndarray:
    """A QR code as a grey image: the file at `png`, or `text` rendered with segno (error correction M)."""
    if png is not None:
        image = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise FileNotFoundError(png)
        return image
    assert text is not None
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="png", scale=scale, border=border)
    return cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE)


@dataclass(frozen=True)
class Shot:
    """How the camera sees it. Defaults: a fair phone photo, taken at an angle in daylight."""

    size: tuple[int, int] = (1280, 960)    # width, height
    code_side: float = 0.42                # the code's side as a share of the shorter image side
    tilt: float = 0.10                     # perspective: corner jitter as a share of the code's side
    rotate: float = 12.0                   # degrees, either way
    blur: float = 1.0                      # Gaussian sigma, pixels
    glare: float = 0.45                    # peak brightness added by the glare blob (0..1)
    noise: float = 5.0                     # sensor noise sigma, grey levels
    jpeg: int = 72                         # JPEG quality


def background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Concrete, steel and shadow: low-frequency blotches, a few hard edges, fine grain."""
    grey = rng.uniform(80, 160)
    base = (grey + rng.uniform(-20, 20, size=3)).astype(np.float32)  # a greyish cast: concrete, dust, steel
    shade = rng.standard_normal((height // 60 + 2, width // 60 + 2), dtype=np.float32)
    shade = cv2.resize(shade, (width, height), interpolation=cv2.INTER_CUBIC) * 22
    img = base + shade[..., None]
    for _ in range(int(rng.integers(3, 7))):  # scaffolding tubes and formwork edges
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        shade = tuple(float(v) for v in rng.uniform(20, 220, size=3))
        cv2.line(img, p1, p2, shade, int(rng.integers(3, 18)), cv2.LINE_AA)
    img += rng.standard_normal(img.shape, dtype=np.float32) * 6
    return np.clip(img, 0, 255).astype(np.uint8)


def _quad(rng: np.random.Generator, centre: tuple[float, float], side: float, shot: Shot) -> np.ndarray:
    angle = np.deg2rad(rng.uniform(-shot.rotate, shot.rotate))
    half = side / 2
    square = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    quad = square @ rot.T + centre
    return (quad + rng.uniform(-shot.tilt, shot.tilt, size=(4, 2)) * side).astype(np.float32)


def paste(canvas: np.ndarray, code: np.ndarray, quad: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Warp the code (on its paper, slightly off-white and unevenly lit) onto `quad`; returns the code's corners."""
    h, w = code.shape[:2]
    paper = code.astype(np.float32)
    paper = paper * rng.uniform(0.85, 0.97) + rng.uniform(0, 10)
    source = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, quad)
    height, width = canvas.shape[:2]
    warped = cv2.warpPerspective(paper, matrix, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((h, w), np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR)
    out = canvas.astype(np.float32) * (1 - mask[..., None]) + warped[..., None] * mask[..., None]
    canvas[:] = np.clip(out, 0, 255).astype(np.uint8)
    return quad


def photo(codes: list[np.ndarray], seed: int, shot: Shot = Shot()) -> tuple[np.ndarray, list[np.ndarray]]:
    """A BGR photo holding `codes` side by side, and each pasted image's corners (TL, TR, BR, BL)."""
    rng = np.random.default_rng(seed)
    width, height = shot.size
    img = background(rng, width, height)
    n = len(codes)
    side = shot.code_side * min(width, height) * (1.0 if n == 1 else min(1.0, 1.6 / n))
    quads = []
    for i, code in enumerate(codes):
        cx = width * (i + 0.5) / n + rng.uniform(-0.03, 0.03) * width
        cy = height * 0.5 + rng.uniform(-0.08, 0.08) * height
        quads.append(paste(img, code, _quad(rng, (cx, cy), side, shot), rng))
    work = img.astype(np.float32)
    if shot.glare:
        gx, gy = quads[0].mean(axis=0) + rng.uniform(-0.4, 0.4, size=2) * side
        sigma = side * rng.uniform(0.25, 0.45)
        yy, xx = np.ogrid[0:height, 0:width]
        blob = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * sigma ** 2)).astype(np.float32)
        work += 255 * shot.glare * blob[..., None]
    if shot.blur:
        work = cv2.GaussianBlur(work, (0, 0), shot.blur)
    if shot.noise:
        work += rng.standard_normal(work.shape, dtype=np.float32) * shot.noise
    img = np.clip(work, 0, 255).astype(np.uint8)
    if shot.jpeg:
        ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, shot.jpeg])
        assert ok
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return img, quads


def save(path: Path, codes: list[np.ndarray], seed: int, shot: Shot = Shot()) -> tuple[Path, list[np.ndarray]]:
    """Write the photo (JPEG bytes as compressed by `shot`, or PNG for other suffixes)."""
    img, quads = photo(codes, seed, shot)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(path.suffix or ".png", img, params)
    assert ok
    path.write_bytes(data.tobytes())
    return path, quads
