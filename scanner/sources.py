"""Where codes come from: image files, folders (recursively), video files. The camera is scanner.camera.

Decoding itself is qrdecode.decode's. A video is sampled every `every` seconds; the same code text
seen across frames is one sighting, reported at the first frame it was read in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from qrdecode.decode import IMAGE_SUFFIXES, Code, DecodeError, decode_file, decode_image

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".3gp", ".ts"})
DEFAULT_EVERY = 0.2
_FALLBACK_FPS = 25.0


@dataclass
class Sighting:
    """A code as first seen: in an image file, or in a frame of a video or of the camera."""

    code: Code
    frame: int | None = None
    time_s: float | None = None
    image: np.ndarray | None = None  # the frame (BGR) for video and camera; files are read again when needed


@dataclass
class SourceResult:
    path: Path
    kind: str  # "image" | "video"
    sightings: list[Sighting] = field(default_factory=list)
    error: DecodeError | None = None
    frames: int = 0


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files as named (whatever their suffix); folders searched recursively for images and videos."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*")
                              if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES))
        else:
            out.append(p)
    return out


HOSTILE = "图像过大或已损坏，已跳过 / the image is too large or damaged; skipped"


def scan_image(path: Path) -> SourceResult:
    """The codes in one image file; a file the decoders refuse is an error of this file, never of the batch."""
    try:
        codes = decode_file(path)
    except DecodeError as exc:
        return SourceResult(path, "image", error=exc)
    except (cv2.error, MemoryError, ValueError, OverflowError):
        # A header may claim 10^12 pixels in 74 bytes: OpenCV refuses it with an exception of its own, whose
        # internals mean nothing to an inspector.
        return SourceResult(path, "image", error=DecodeError(path, HOSTILE))
    return SourceResult(path, "image", [Sighting(c) for c in codes])


def scan_video(path: Path, every: float = DEFAULT_EVERY, max_frames: int | None = None,
               decode: Callable[[np.ndarray], list[Code]] = decode_image) -> SourceResult:
    """Decode a frame every `every` seconds; each code text once, at its first frame."""
    if not path.is_file():
        return SourceResult(path, "video", error=DecodeError(path, "no such file"))
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return SourceResult(path, "video", error=DecodeError(path, "not a readable video"))
        fps = capture.get(cv2.CAP_PROP_FPS)
        if not fps or math.isnan(fps) or fps <= 0 or fps > 1000:
            fps = _FALLBACK_FPS
        step = max(1, round(fps * every))
        seen: dict[str, Sighting] = {}
        index = sampled = 0
        while capture.grab():
            if index % step == 0:
                ok, frame = capture.retrieve()
                if ok and frame is not None:
                    sampled += 1
                    for code in decode(frame):
                        if code.text not in seen:
                            seen[code.text] = Sighting(code, index, round(index / fps, 3), frame)
                    if max_frames is not None and sampled >= max_frames:
                        index += 1
                        break
            index += 1
        if index == 0:
            return SourceResult(path, "video", error=DecodeError(path, "no frames could be read"))
        return SourceResult(path, "video", list(seen.values()), frames=sampled)
    finally:
        capture.release()


def scan_source(path: Path, every: float = DEFAULT_EVERY, max_frames: int | None = None) -> SourceResult:
    return scan_video(path, every, max_frames) if is_video(path) else scan_image(path)
