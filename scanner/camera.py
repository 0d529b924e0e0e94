"""The live camera loop: read frames, decode, verify each new code once, show or print the verdict.

With a display (DISPLAY set and an OpenCV window opens) the frame is shown with each code's outline
and verdict drawn on it; without one each verdict is printed as a line when its code is first read.
The loop stops after --max-frames frames, at Ctrl-C, when the window is closed or q/Esc is pressed,
or when the source stops giving frames. Anything with OpenCV's VideoCapture read()/release() works
as the source, so the loop is tested with a fake one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from qrdecode.decode import Code, decode_image

from . import annotate
from .sources import Sighting
from .verdicts import Finding

MAX_READ_FAILURES = 30
WINDOW = "crane-scan"


class FrameSource(Protocol):
    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...


class Display(Protocol):
    def show(self, frame: np.ndarray, codes: list[Code], findings: Mapping[str, Finding]) -> bool:
        """Draw and show one frame; False when the user asked to stop."""

    def close(self) -> None: ...


@dataclass
class LiveResult:
    frames: int = 0
    sightings: list[Sighting] = field(default_factory=list)
    findings: dict[str, Finding] = field(default_factory=dict)
    stopped_by: str = "end"   # end | max-frames | interrupt | window | read-failure


def live(source: FrameSource, on_new: Callable[[Sighting], Finding | None], *, max_frames: int | None = None,
         display: Display | None = None,
         decode: Callable[[np.ndarray], list[Code]] | None = None,
         max_failures: int = MAX_READ_FAILURES) -> LiveResult:
    """Run until a stop condition; each code text is verified once, at the first frame it is read in."""
    decode = decode or _fast_decode
    result = LiveResult()
    failures = 0
    try:
        while max_frames is None or result.frames < max_frames:
            ok, frame = source.read()
            if not ok or frame is None:
                failures += 1
                if failures >= max_failures:
                    result.stopped_by = "read-failure" if result.frames == 0 else "end"
                    break
                continue
            failures = 0
            result.frames += 1
            codes = decode(frame)
            for code in codes:
                if code.text in result.findings:
                    continue
                sighting = Sighting(code, result.frames, None, frame)
                result.sightings.append(sighting)
                finding = on_new(sighting)
                if finding is not None:
                    result.findings[code.text] = finding
            if display is not None and not display.show(frame, codes, result.findings):
                result.stopped_by = "window"
                break
        else:
            result.stopped_by = "max-frames"
    except KeyboardInterrupt:
        result.stopped_by = "interrupt"
    finally:
        source.release()
        if display is not None:
            display.close()
    return result


def _fast_decode(frame: np.ndarray) -> list[Code]:
    # Live video: only the fast first pass; the next frame is the retry.
    return decode_image(frame, fast=True)


class Window:
    """An OpenCV window with the verdicts drawn over the live picture."""

    def __init__(self, name: str = WINDOW):
        self.name = name
        cv2.namedWindow(name, cv2.WINDOW_NORMAL)

    def show(self, frame: np.ndarray, codes: list[Code], findings: Mapping[str, Finding]) -> bool:
        here = [replace(findings[c.text], points=[list(p) for p in c.points]) for c in codes if c.text in findings]
        shown = annotate.pil_to_bgr(annotate.draw(annotate.bgr_to_pil(frame), here)) if here else frame
        cv2.imshow(self.name, shown)
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            return False
        try:
            return cv2.getWindowProperty(self.name, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:
            return False

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.name)
            cv2.waitKey(1)
        except cv2.error:
            pass


def _x_display_reachable(display: str) -> bool:
    # A local X display is a socket; checking it first keeps a GUI toolkit from aborting the process.
    if display.startswith(":"):
        number = display[1:].split(".")[0]
        return Path(f"/tmp/.X11-unix/X{number}").exists()  # noqa: S108 - the X server's well-known path
    return True


def open_window(env_vars: Mapping[str, str]) -> Window | None:
    """A live window when there is a display and OpenCV can open one; else None (plain printed verdicts)."""
    display = env_vars.get("DISPLAY", "")
    if not (display and _x_display_reachable(display)) and not env_vars.get("WAYLAND_DISPLAY"):
        return None
    try:
        window = Window()
        cv2.imshow(window.name, np.zeros((8, 8, 3), np.uint8))
        cv2.waitKey(1)
        return window
    except cv2.error:
        return None


NO_CAMERA = "未找到摄像头 {index} / no camera {index}: 请检查摄像头是否连接、是否被其他程序占用 / check that it is connected and not in use"


def open_camera(index: int, devices: Path = Path("/dev")) -> cv2.VideoCapture | None:
    """The camera by index, or None when there is none (tests replace this with a video file's capture).

    OpenCV reports a missing camera by writing its own warnings to the process's stderr; they mean nothing to
    an inspector, so on Linux the device node is looked for first, and OpenCV's log is silenced while it opens."""
    if sys.platform.startswith("linux") and not (devices / f"video{index}").exists():
        return None
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(index)
    finally:
        cv2.utils.logging.setLogLevel(previous)
