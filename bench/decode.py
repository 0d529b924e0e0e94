"""Decode benchmark: our cascade against pyzbar alone and zxing-cpp alone.

Speed on one core: a grey 1080p camera frame in memory, and a 12-megapixel JPEG file read included
(targets: 15 ms and 150 ms). Codes found on ../shared/qr-samples (CRANE_QR_SAMPLES) at four
rotations, with exact text. And what each step of the cascade adds: on the samples and on seeded
synthetic camera-like shots, how many codes are lost when that step is left out.

    python -m bench.decode
"""

from __future__ import annotations

import io
import os
import random
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import segno
import zxingcpp
from pyzbar import pyzbar

from scanner import decode
from scanner.decode import IMAGE_SUFFIXES, decode_file, decode_image

SAMPLES = Path(os.environ.get("CRANE_QR_SAMPLES", Path(__file__).resolve().parents[1].parent / "shared" / "qr-samples"))
SAMPLE_SETS = [f"qrcode-{i}" for i in range(1, 7)]
ROTATIONS = {0: None, 90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
URL = "HTTPS://VERIFY.EXAMPLE.CN/V/"

Reader = Callable[[np.ndarray], list[str]]


def ours(grey: np.ndarray) -> list[str]:
    return [c.text for c in decode_image(grey)]


def zbar_alone(grey: np.ndarray) -> list[str]:
    return [d.data.decode("utf-8", "replace") for d in pyzbar.decode(grey, symbols=[pyzbar.ZBarSymbol.QRCODE])]


def zxing_alone(grey: np.ndarray) -> list[str]:
    # The same call as our first step, so the difference is the cascade, not the text mode.
    found = zxingcpp.read_barcodes(grey, formats=zxingcpp.BarcodeFormat.QRCode, text_mode=zxingcpp.TextMode.Plain)
    return [b.text for b in found]


READERS: dict[str, Reader] = {"ours": ours, "pyzbar alone": zbar_alone, "zxing-cpp alone": zxing_alone}


def qr(text: str, scale: int) -> np.ndarray:
    buf = io.BytesIO()
    segno.make_qr(text, error="m").save(buf, kind="png", scale=scale, border=4)
    return cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE)


def photo(height: int, width: int, seed: int) -> np.ndarray:
    """A photo-like BGR background: smooth blotches plus sensor noise (compresses like a photo)."""
    rng = np.random.default_rng(seed)
    blotches = cv2.resize(rng.integers(0, 256, (height // 50, width // 50, 3), dtype=np.uint8), (width, height),
                          interpolation=cv2.INTER_CUBIC)
    return cv2.add(blotches, rng.integers(0, 30, (height, width, 3), dtype=np.uint8))


def paste(background: np.ndarray, code: np.ndarray, x: int, y: int) -> np.ndarray:
    out = background.copy()
    h, w = code.shape
    out[y:y + h, x:x + w] = code if out.ndim == 2 else code[:, :, None]
    return out


def synthetic_shot(seed: int) -> tuple[np.ndarray, str]:
    """A grey 960x720 camera-like shot: one code in perspective on a busy background, uneven light,
    low contrast, blur, noise and JPEG artefacts, each drawn at random."""
    rnd = random.Random(seed)
    text = URL + "".join(rnd.choice(string.ascii_uppercase + "234567") for _ in range(rnd.choice([20, 60, 120, 200])))
    code = qr(text, rnd.choice([2, 3, 4, 5, 6]))
    height, width = 720, 960
    background = cv2.cvtColor(photo(height, width, seed), cv2.COLOR_BGR2GRAY)
    h, w = code.shape
    size = min(1.0, 600 / max(h, w))
    angle = rnd.uniform(0, 2 * np.pi)
    cx, cy = width / 2 + rnd.uniform(-100, 100), height / 2 + rnd.uniform(-80, 80)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = []
    for x, y in src:
        x0, y0 = (x - w / 2) * size, (y - h / 2) * size
        jitter = 0.18 * w * size
        dst.append([cx + x0 * np.cos(angle) - y0 * np.sin(angle) + rnd.uniform(-jitter, jitter),
                    cy + x0 * np.sin(angle) + y0 * np.cos(angle) + rnd.uniform(-jitter, jitter)])
    warp = cv2.getPerspectiveTransform(src, np.float32(dst))
    mask = cv2.warpPerspective(np.full_like(code, 255), warp, (width, height))
    img = np.where(mask > 0, cv2.warpPerspective(code, warp, (width, height)), background).astype(np.float32)
    low, high = rnd.uniform(0, 90), rnd.uniform(150, 255)
    img = (low + img * (high - low) / 255) * np.linspace(rnd.uniform(0.5, 1), rnd.uniform(0.5, 1.2), width)[None, :]
    if sigma := rnd.choice([0, 0, 0.8, 1.5, 2.2]):
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += np.random.default_rng(seed).normal(0, rnd.choice([0, 4, 10, 20]), img.shape)
    _, jpeg = cv2.imencode(".jpg", np.clip(img, 0, 255).astype(np.uint8),
                           [cv2.IMWRITE_JPEG_QUALITY, rnd.choice([20, 40, 70, 95])])
    return cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE), text


def samples() -> Iterator[tuple[str, int, np.ndarray, str]]:
    """(set, rotation, grey image, expected text) for every sample image at every rotation."""
    for name in SAMPLE_SETS:
        for path in sorted((SAMPLES / "zxing-cpp" / name).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                expected = path.with_suffix(".txt").read_bytes().decode("utf-8")
                grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
                for angle, rotation in ROTATIONS.items():
                    yield name, angle, grey if rotation is None else cv2.rotate(grey, rotation), expected


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up: first-call allocations, lazy library set-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def step_outcomes(grey: np.ndarray) -> list[list[str]]:
    """The texts each cascade step finds on its own in this image."""
    outcomes = []
    for step in decode._CASCADE:
        work, _ = decode._VIEWS[step.view](grey)
        outcomes.append([c.text for c in step.engine(work)])
    return outcomes


def cascade_hits(cases: list[tuple[list[list[str]], str]], steps: list[int]) -> int:
    """Codes the cascade made of these steps would read: the first step finding anything wins."""
    hits = 0
    for outcomes, expected in cases:
        first = next((outcomes[i] for i in steps if outcomes[i]), [])
        hits += expected in first
    return hits


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(report: Callable[[str], object] = progress) -> list[str]:
    """Run the benchmark; report(message) hears progress (stderr by default). Returns markdown lines."""
    affinity, threads = os.sched_getaffinity(0), cv2.getNumThreads()
    os.sched_setaffinity(0, {min(affinity)})
    cv2.setNumThreads(1)
    try:
        return _run(report)
    finally:
        os.sched_setaffinity(0, affinity)
        cv2.setNumThreads(threads)


def _run(report: Callable[[str], object]) -> list[str]:
    lines = ["## QR decoding", ""]
    text = URL + "AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYUCULBOGAZDINRYHI6D4QA"

    report("decode: 1080p frame")
    frame = paste(cv2.cvtColor(photo(1080, 1920, 1), cv2.COLOR_BGR2GRAY), qr(text, 6), 800, 300)
    empty_frame = cv2.cvtColor(photo(1080, 1920, 2), cv2.COLOR_BGR2GRAY)
    speed: dict[str, list[str]] = {}
    for name, reader in READERS.items():
        found = "yes" if text in reader(frame) else "NO"
        speed[name] = [f"{median_ms(lambda r=reader: r(frame), 21):.1f} (read: {found})"]

    report("decode: 12-megapixel JPEG")
    with tempfile.TemporaryDirectory() as tmp:
        jpeg = Path(tmp) / "photo.jpg"
        cv2.imwrite(str(jpeg), paste(photo(3000, 4000, 3), qr(text, 12), 1500, 1000), [cv2.IMWRITE_JPEG_QUALITY, 90])
        file_readers: dict[str, Callable[[], list[str]]] = {
            "ours": lambda: [c.text for c in decode_file(jpeg)],
            "pyzbar alone": lambda: zbar_alone(cv2.imread(str(jpeg), cv2.IMREAD_GRAYSCALE)),
            "zxing-cpp alone": lambda: zxing_alone(cv2.imread(str(jpeg), cv2.IMREAD_GRAYSCALE)),
        }
        for name, read in file_readers.items():
            found = "yes" if text in read() else "NO"
            speed[name].append(f"{median_ms(read, 7):.0f} (read: {found})")

    report("decode: shared samples")
    have_samples = (SAMPLES / "zxing-cpp").is_dir()
    counts: dict[str, dict[tuple[str, int], int]] = {name: {} for name in READERS}
    step_cases: list[tuple[list[list[str]], str]] = []
    totals = {name: 0 for name in SAMPLE_SETS}
    for set_name, angle, grey, expected in samples() if have_samples else ():
        totals[set_name] += 1
        for name, reader in READERS.items():
            key = (set_name, angle)
            counts[name][key] = counts[name].get(key, 0) + (expected in reader(grey))
        step_cases.append((step_outcomes(grey), expected))

    lines += ["One core (`sched_setaffinity`, `cv2.setNumThreads(1)`), median ms.", "",
              "| | 1080p grey frame in memory | 12 MP JPEG file, read included | samples read, four rotations |",
              "|---|---|---|---|"]
    for name in READERS:
        found = sum(counts[name].values())
        lines.append(f"| {name} | {speed[name][0]} | {speed[name][1]} | {found} of {sum(totals.values())} |"
                     if have_samples else f"| {name} | {speed[name][0]} | {speed[name][1]} | samples absent |")
    lines += ["", f"Ours on a 1080p frame without a code: {median_ms(lambda: decode_image(empty_frame), 5):.0f} ms "
              f"(every retry runs); with `fast=True` {median_ms(lambda: decode_image(empty_frame, fast=True), 21):.1f} ms.",
              ""]
    if not have_samples:
        return [*lines, f"Samples not found at {SAMPLES} (set CRANE_QR_SAMPLES): no counts.", ""]

    floors = {"qrcode-1": 8, "qrcode-2": 50, "qrcode-3": 18, "qrcode-4": 15, "qrcode-5": 16, "qrcode-6": 15}
    lines += ["Samples read with the exact expected text, per rotation 0/90/180/270:", "",
              "| set | floor | " + " | ".join(READERS) + " |", "|---|---|" + "---|" * len(READERS)]
    for set_name in SAMPLE_SETS:
        cells = ["/".join(str(counts[name].get((set_name, a), 0)) for a in ROTATIONS) for name in READERS]
        lines.append(f"| {set_name} ({totals[set_name] // 4}) | {floors[set_name]} | " + " | ".join(cells) + " |")

    report("decode: what each step adds")
    synthetic = []
    for seed in range(300):
        grey, expected = synthetic_shot(seed)
        synthetic.append((step_outcomes(grey), expected))
    every = list(range(len(decode._CASCADE)))
    lines += ["", "What each cascade step adds: codes lost when it is left out "
              f"(samples: {len(step_cases)} images; synthetic: {len(synthetic)} seeded camera-like shots).", "",
              "| step | engine | view | samples | synthetic |", "|---|---|---|---|---|"]
    for i, step in enumerate(decode._CASCADE):
        without = [j for j in every if j != i]
        lost = [cascade_hits(cases, every) - cascade_hits(cases, without) for cases in (step_cases, synthetic)]
        lines.append(f"| {i + 1} | {step.name} | {step.view} | {lost[0]} | {lost[1]} |")
    lines += ["", f"All steps: samples {cascade_hits(step_cases, every)}, synthetic {cascade_hits(synthetic, every)}; "
              f"first step alone: samples {cascade_hits(step_cases, [0])}, synthetic {cascade_hits(synthetic, [0])}.", ""]
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
