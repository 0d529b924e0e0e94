"""A fake camera for Chromium: a 1280x720 Y4M file showing one QR code, fed with --use-file-for-fake-video-capture.

Written with Pillow: the header, one FRAME, the Y plane from a grey image and the U and V planes at 128
(no colour). Chromium loops the single frame, so the code stays in view for as long as the page looks.
"""

from __future__ import annotations

from pathlib import Path

import segno
from PIL import Image

WIDTH, HEIGHT = 1280, 720


def qr_frame(text: str, size: int = 600, offset: tuple[int, int] = (0, 0)) -> Image.Image:
    """A grey 1280x720 frame with the code `text` (error correction M, as issued) at `size` pixels."""
    code = segno.make(text, error="m", micro=False)
    modules = code.symbol_size(scale=1, border=4)[0]
    image = _code_image(code, max(1, size // modules))
    frame = Image.new("L", (WIDTH, HEIGHT), 235)
    x = (WIDTH - image.width) // 2 + offset[0]
    y = (HEIGHT - image.height) // 2 + offset[1]
    frame.paste(image, (x, y))
    return frame


def _code_image(code, scale: int) -> Image.Image:
    import io

    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=scale, border=4)
    buffer.seek(0)
    return Image.open(buffer).convert("L")


def write_y4m(frame: Image.Image, path: Path) -> Path:
    if frame.size != (WIDTH, HEIGHT):
        raise ValueError(f"a fake camera frame is {WIDTH}x{HEIGHT}, not {frame.size}")
    chroma = bytes([128]) * ((WIDTH // 2) * (HEIGHT // 2))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F30:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        out.write(b"FRAME\n")
        out.write(frame.convert("L").tobytes())
        out.write(chroma)
        out.write(chroma)
    return path


def camera_file(text: str, path: Path) -> Path:
    """The Y4M file of a camera looking at the code `text`."""
    return write_y4m(qr_frame(text), path)


def image_file(png: Path, path: Path, height: int = 600) -> Path:
    """The Y4M file of a camera looking at a picture (the enrolment QR PNG the CLI wrote), `height` pixels tall."""
    picture = Image.open(png).convert("L")
    picture = picture.resize((picture.width * height // picture.height, height), Image.NEAREST)
    frame = Image.new("L", (WIDTH, HEIGHT), 235)
    frame.paste(picture, ((WIDTH - picture.width) // 2, (HEIGHT - picture.height) // 2))
    return write_y4m(frame, path)


def blank_file(path: Path) -> Path:
    """A camera looking at nothing to read."""
    return write_y4m(Image.new("L", (WIDTH, HEIGHT), 235), path)
