"""qrdecode.decode: the zxing-cpp sample floors at four rotations and our own measured counts, no false
positives, corner points in original pixels, text exactly as encoded, and no crash on any input.
qrdecode.wechat: hard shots that zxing-cpp alone misses are read, model files are checked before use,
and a missing or changed model costs the WeChat step only, with a warning."""

from __future__ import annotations

import io
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bench.decode import hard_shot, sheet_shot, zxing_alone
from keys.cli_env import Environment, ExitStatus
from qrdecode import decode, wechat
from qrdecode.decode import Code, DecodeError, Engine, decode_file, decode_image, decode_paths, read_image
from scanner.cli import main as crane_scan
from tests.scanner import photos

SAMPLES = Path(os.environ.get("CRANE_QR_SAMPLES") or Path(__file__).resolve().parents[2].parent / "shared" / "qr-samples")
ROTATIONS = {0: None, 90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
# zxing-cpp's own floors (test/blackbox/BlackboxTestRunner.cpp), here required at every rotation.
FLOORS = {"qrcode-1": 8, "qrcode-2": 50, "qrcode-3": 18, "qrcode-4": 15, "qrcode-5": 16, "qrcode-6": 15}
# What our cascade reads over the four rotations (bench/RESULTS.md): 521 of 548 before the WeChat step,
# which adds qrcode-4/06.webp turned 180°.
MEASURED = {"qrcode-1": 32, "qrcode-2": 224, "qrcode-3": 72, "qrcode-4": 70, "qrcode-5": 64, "qrcode-6": 60}
URL = "HTTPS://VERIFY.EXAMPLE.CN/V/AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYUCULBOGAZDINRYHI6D4QA"


def sample_dir(name: str) -> Path:
    path = SAMPLES / "zxing-cpp" / name
    if not path.is_dir():
        pytest.skip(f"QR samples not found at {path}: put them at ../shared/qr-samples or set CRANE_QR_SAMPLES")
    return path


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in decode.IMAGE_SUFFIXES)


def rotate(img: np.ndarray, angle: int) -> np.ndarray:
    return img if ROTATIONS[angle] is None else cv2.rotate(img, ROTATIONS[angle])


@pytest.fixture(scope="module")
def sample_results() -> dict[str, dict[int, dict[str, list[Code]]]]:
    """set -> rotation -> image name -> codes; every sample decoded once per rotation."""
    results: dict[str, dict[int, dict[str, list[Code]]]] = {}
    for name in FLOORS:
        folder = sample_dir(name)
        results[name] = {angle: {} for angle in ROTATIONS}
        for path in images(folder):
            img = read_image(path)
            for angle in ROTATIONS:
                results[name][angle][path.name] = decode_image(rotate(img, angle))
    return results


@pytest.mark.parametrize("angle", ROTATIONS)
@pytest.mark.parametrize("name", FLOORS)
def test_sample_floor(sample_results, name: str, angle: int) -> None:
    folder = sample_dir(name)
    missed = []
    for path in images(folder):
        expected = path.with_suffix(".txt").read_bytes().decode("utf-8")
        if not any(code.text == expected for code in sample_results[name][angle][path.name]):
            missed.append(path.name)
    read = len(images(folder)) - len(missed)
    assert read >= FLOORS[name], f"{name} at {angle}°: {read} read, floor {FLOORS[name]}; missed {missed}"


@pytest.mark.parametrize("name", MEASURED)
def test_samples_read_as_measured(sample_results, name: str) -> None:
    folder = sample_dir(name)
    expected = {path.name: path.with_suffix(".txt").read_bytes().decode("utf-8") for path in images(folder)}
    read = sum(any(code.text == expected[image] for code in codes)
               for by_name in sample_results[name].values() for image, codes in by_name.items())
    assert read >= MEASURED[name], f"{name}: {read} read over four rotations, measured {MEASURED[name]}"


@pytest.mark.parametrize("name", FLOORS)
def test_sample_corners_lie_in_the_image(sample_results, name: str) -> None:
    # Retries run on resized copies; a corner left in the copy's pixels would fall outside.
    folder = sample_dir(name)
    for path in images(folder):
        height, width = read_image(path).shape[:2]
        for angle, by_name in sample_results[name].items():
            h, w = (height, width) if angle in (0, 180) else (width, height)
            for code in by_name[path.name]:
                for x, y in code.points:
                    assert -3 <= x <= w + 3 and -3 <= y <= h + 3, (path.name, angle, code)


@pytest.mark.parametrize("name", ["falsepositives-1", "falsepositives-2"])
def test_no_false_positives(name: str) -> None:
    for path in images(sample_dir(name)):
        try:
            img = read_image(path)
        except DecodeError as e:
            # Degenerate files (1x1.webp, 1x100.webp) may be refused, and then by name.
            assert path.name in str(e)
            continue
        for angle in ROTATIONS:
            assert decode_image(rotate(img, angle)) == [], f"{path.name} at {angle}°"


def render(symbol: segno.QRCode, scale: int = 10, border: int = 4) -> np.ndarray:
    buf = io.BytesIO()
    symbol.save(buf, kind="png", scale=scale, border=border)
    return cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE)


def on_canvas(code: np.ndarray, x: int, y: int, shape: tuple[int, int] = (600, 800)) -> np.ndarray:
    canvas = np.full(shape, 255, np.uint8)
    canvas[y:y + code.shape[0], x:x + code.shape[1]] = code
    return canvas


def symbol_corners(symbol: segno.QRCode, x: int, y: int, scale: int = 10, border: int = 4) -> list[tuple[float, float]]:
    """TL, TR, BR, BL of the symbol (quiet zone excluded) pasted at (x, y)."""
    left, top = x + border * scale, y + border * scale
    right, bottom = left + symbol.symbol_size(scale=scale, border=0)[0], top + symbol.symbol_size(scale=scale, border=0)[1]
    return [(left, top), (right, top), (right, bottom), (left, bottom)]


def assert_corners(points, expected, tolerance: float = 3) -> None:
    assert len(points) == 4
    for (x, y), (ex, ey) in zip(points, expected, strict=True):
        assert abs(x - ex) <= tolerance and abs(y - ey) <= tolerance, f"{points} != {expected}"


def rotate_point_cw(point: tuple[float, float], height: int) -> tuple[float, float]:
    """Where a point lands when an image of this height is turned 90° clockwise."""
    x, y = point
    return height - y, x


# segno.make picks a Micro QR for short text (zxing-cpp reads those); our codes are full QR.
@pytest.mark.parametrize("symbol", [segno.make("HELLO", error="m"), segno.make_qr("HELLO", error="m")],
                         ids=["micro", "qr"])
def test_corner_points_follow_the_symbol(symbol: segno.QRCode) -> None:
    img = on_canvas(render(symbol), 200, 100)
    expected = symbol_corners(symbol, 200, 100)
    [code] = decode_image(img)
    assert code.text == "HELLO"
    assert_corners(code.points, expected)

    turned = cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    [code] = decode_image(turned)
    # The symbol's own top-left corner is now at the picture's top right, and so on round.
    assert_corners(code.points, [rotate_point_cw(p, img.shape[0]) for p in expected])


@pytest.mark.parametrize("engine", [decode._zxing(zxingcpp.Binarizer.LocalAverage), decode._zbar, decode._opencv,
                                    decode._wechat], ids=["zxing", "zbar", "opencv", "wechat"])
@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_every_engine_orders_corners_the_same_way(engine, turns: int) -> None:
    symbol = segno.make_qr(URL, error="m")
    img = on_canvas(render(symbol, scale=6), 150, 80)
    expected = symbol_corners(symbol, 150, 80, scale=6)
    for _ in range(turns):
        expected = [rotate_point_cw(p, img.shape[0]) for p in expected]
        img = cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    [code] = engine(img)
    assert code.text == URL
    assert_corners(code.points, expected)


@pytest.mark.parametrize("step", range(1, len(decode._CASCADE)))
@pytest.mark.parametrize("shape, scale", [((300, 400), 3), ((2000, 3000), 12)], ids=["small", "large"])
def test_retries_report_corners_in_original_pixels(monkeypatch, step: int, shape, scale: int) -> None:
    # Small images are retried enlarged and large ones shrunk; run each retry step on its own.
    monkeypatch.setattr(decode, "_CASCADE", decode._CASCADE[step:step + 1])
    symbol = segno.make_qr(URL, error="m")
    img = on_canvas(render(symbol, scale=scale), 60, 40, shape=shape)
    [code] = decode_image(img)
    assert code.text == URL
    assert_corners(code.points, symbol_corners(symbol, 60, 40, scale=scale), tolerance=scale / 2 + 1)


@pytest.mark.parametrize("text", [
    "起重机使用登记证",  # all in JIS X 0208: segno uses the Kanji mode (Shift JIS)
    "沈阳市城乡建设局 辽A-SY-2024-00456",  # simplified characters: UTF-8 in byte mode
    "3#楼北侧 ÄÖÜ",
])
@pytest.mark.parametrize("eci", [False, True])
def test_chinese_text_round_trip(text: str, eci: bool) -> None:
    img = render(segno.make_qr(text, error="m", eci=eci), scale=6)
    assert [c.text for c in decode_image(img)] == [text]


@pytest.mark.parametrize("engine", [decode._zbar, decode._opencv], ids=["zbar", "opencv"])
@pytest.mark.parametrize("text", ["沈阳市城乡建设局", "起重机"])
def test_fallback_engines_decode_chinese(engine, text: str) -> None:
    [code] = engine(render(segno.make_qr(text, error="m"), scale=6))
    assert code.text == text


def test_wechat_decodes_chinese_in_utf8() -> None:
    # Byte-mode UTF-8, as our certificates' texts are. (Some Kanji-mode symbols it passes through as
    # Shift JIS, which its binding cannot return: the other engines read those.)
    text = "沈阳市城乡建设局 辽A-SY-2024-00456"
    [code] = decode._wechat(render(segno.make_qr(text, error="m"), scale=6))
    assert (code.text, code.engine) == (text, Engine.WECHAT)


def test_light_on_dark_code_is_found() -> None:
    img = 255 - on_canvas(render(segno.make_qr(URL, error="m"), scale=6), 100, 100)
    assert [c.text for c in decode_image(img)] == [URL]


def test_colour_and_grey_inputs_agree() -> None:
    grey = on_canvas(render(segno.make_qr(URL, error="m"), scale=6), 100, 100)
    for img in (grey, cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), cv2.cvtColor(grey, cv2.COLOR_GRAY2BGRA), grey[:, :, None]):
        assert [c.text for c in decode_image(img)] == [URL]


def test_several_codes_in_one_image() -> None:
    canvas = np.full((500, 1000), 255, np.uint8)
    texts = [URL, URL.replace("AEBAG", "ZZZZZ")]
    for i, text in enumerate(texts):
        code = render(segno.make_qr(text, error="m"), scale=5)
        canvas[50:50 + code.shape[0], 50 + 500 * i:50 + 500 * i + code.shape[1]] = code
    assert sorted(c.text for c in decode_image(canvas)) == sorted(texts)


def test_duplicates_are_merged() -> None:
    code = Code("A", ((0, 0), (10, 0), (10, 10), (0, 10)), Engine.ZXING)
    moved = Code("A", ((1, 1), (11, 1), (11, 11), (1, 11)), Engine.ZBAR)
    elsewhere = Code("A", ((50, 0), (60, 0), (60, 10), (50, 10)), Engine.ZXING)
    other_text = Code("B", ((0, 0), (10, 0), (10, 10), (0, 10)), Engine.ZXING)
    assert decode._merge([code, moved, elsewhere, other_text]) == [code, elsewhere, other_text]


def test_files_folders_and_errors(tmp_path: Path) -> None:
    code = on_canvas(render(segno.make_qr(URL, error="m"), scale=6), 50, 50)
    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "a.png"), code)
    cv2.imwrite(str(tmp_path / "sub" / "b.JPG"), cv2.cvtColor(code, cv2.COLOR_GRAY2BGR))
    cv2.imwrite(str(tmp_path / "sub" / "c.webp"), np.full((100, 100), 255, np.uint8))
    cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((1, 1), np.uint8))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "notes.txt").write_text("not an image")

    assert [c.text for c in decode_file(tmp_path / "a.png")] == [URL]
    assert read_image(tmp_path / "a.png").shape == (*code.shape, 3)
    for bad in ("broken.png", "tiny.png", "notes.txt", "missing.png"):
        with pytest.raises(DecodeError, match=bad):
            read_image(tmp_path / bad)

    results = dict(decode_paths([tmp_path, tmp_path / "notes.txt"]))
    assert sorted(p.relative_to(tmp_path).as_posix() for p in results) == [
        "a.png", "broken.png", "notes.txt", "sub/b.JPG", "sub/c.webp", "tiny.png"]
    assert [c.text for c in results[tmp_path / "sub" / "b.JPG"]] == [URL]
    assert results[tmp_path / "sub" / "c.webp"] == []
    for bad in ("broken.png", "tiny.png", "notes.txt"):
        assert isinstance(results[tmp_path / bad], DecodeError)


def test_a_truncated_file_is_named_without_opencv_noise(tmp_path: Path, capfd) -> None:
    ok, webp = cv2.imencode(".webp", np.full((40, 40), 255, np.uint8))
    (tmp_path / "cut.webp").write_bytes(webp.tobytes()[:30])
    with pytest.raises(DecodeError, match="cut.webp"):
        read_image(tmp_path / "cut.webp")
    assert capfd.readouterr().err == ""  # OpenCV's C++ log lines would land here


def test_unsupported_arrays_are_refused() -> None:
    with pytest.raises(DecodeError):
        decode_image(np.zeros((50, 50), np.float32))
    with pytest.raises(DecodeError):
        decode_image(np.zeros(50, np.uint8))
    assert decode_image(np.zeros((0, 50), np.uint8)) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays(np.uint8, st.one_of(
    st.tuples(st.integers(1, 64), st.integers(1, 64)),
    st.tuples(st.integers(1, 48), st.integers(1, 48), st.sampled_from([1, 3, 4])),
)))
def test_any_small_image_is_decoded_without_crashing(img: np.ndarray) -> None:
    assert all(isinstance(c, Code) for c in decode_image(img))


# --- the WeChat step --------------------------------------------------------------------------------

def test_wechat_reads_a_sample_the_other_steps_miss() -> None:
    path = sample_dir("qrcode-4") / "06.webp"
    grey = rotate(read_image(path, grey=True), 180)
    expected = path.with_suffix(".txt").read_bytes().decode("utf-8")
    for step in decode._CASCADE[:-1]:
        assert step.engine(decode._VIEWS[step.view](grey)[0]) == [], step.name
    [code] = decode_image(grey)
    assert (code.text, code.engine) == (expected, Engine.WECHAT)


BLUR = 5.5


def blurred_photo(seed: int) -> tuple[np.ndarray, str]:
    """A phone photo (tests/scanner/photos.py) badly out of focus: blur sigma 5.5 pixels on 4-pixel modules."""
    text = URL + str(seed) * 40
    img, _ = photos.photo([photos.qr_grey(text=text, scale=4)], seed, photos.Shot(blur=BLUR, glare=0.0, code_side=0.5))
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), text


# Seeded shots that zxing-cpp alone does not read; the cascade reads each (bench/decode.py's hard_shot
# by kind, and blurred photos). Damaged 7 and 19 and both blurred photos are read by the WeChat step alone.
HARD_CASES = {"glare-6": lambda: hard_shot(6)[:2], "glare-78": lambda: hard_shot(78)[:2],
              "damaged-7": lambda: hard_shot(7)[:2], "damaged-19": lambda: hard_shot(19)[:2],
              "damaged-25": lambda: hard_shot(25)[:2], "blurred-2": lambda: blurred_photo(2),
              "blurred-9": lambda: blurred_photo(9)}


@pytest.mark.parametrize("case", HARD_CASES)
def test_hard_shots_zxing_alone_misses_are_read(case: str) -> None:
    grey, text = HARD_CASES[case]()
    assert text not in zxing_alone(grey)
    assert text in [code.text for code in decode_image(grey)]


def test_wechat_follows_a_success_only_beside_a_symbol_seen_but_not_read() -> None:
    read = Code("A", ((0, 0), (10, 0), (10, 10), (0, 10)), Engine.ZXING)
    assert not decode._unread_beside(decode._Found([read]))
    assert not decode._unread_beside(decode._Found([read], [((2, 2), (8, 2), (8, 8), (2, 8))]))  # the same symbol
    assert decode._unread_beside(decode._Found([read], [((50, 0), (60, 0), (60, 10), (50, 10))]))
    assert not decode._unread_beside([read])  # engines other than zxing-cpp report nothing unread


def test_wechat_reads_the_code_zxing_saw_but_could_not_read_on_a_sheet() -> None:
    grey, texts = sheet_shot(7)  # 15 codes; zxing-cpp reads 14 and sees symbols it cannot read
    first = decode._CASCADE[0].engine(grey)
    assert len(first) == 14 and decode._unread_beside(first)
    codes = decode_image(grey)
    assert sorted(c.text for c in codes) == sorted(texts)
    assert [c.engine for c in codes].count(Engine.WECHAT) == 1


def test_model_files_are_found_without_importing_their_package() -> None:
    folder = wechat.model_folder()
    assert folder.name == wechat.MODEL_SUBFOLDER and folder.parent.name == wechat.MODEL_PACKAGE
    assert set(wechat.MODEL_SHA256) <= {p.name for p in folder.iterdir()}
    assert wechat.MODEL_PACKAGE not in sys.modules  # it imports matplotlib, which is not installed


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(wechat.model_folder(), tmp_path / "models"))


def test_a_changed_model_file_is_refused(model_copy: Path) -> None:
    wechat.Reader(model_copy)  # the untouched copy loads
    model = model_copy / "detect.caffemodel"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(wechat.WeChatModelError, match="detect.caffemodel") as refused:
        wechat.Reader(model_copy)
    assert "已被改动" in str(refused.value) and "changed" in str(refused.value)


def test_a_missing_model_file_is_named(model_copy: Path) -> None:
    (model_copy / "sr.prototxt").unlink()
    with pytest.raises(wechat.WeChatModelError, match="sr.prototxt") as refused:
        wechat.Reader(model_copy)
    assert "缺失" in str(refused.value) and "missing" in str(refused.value)
    assert wechat.INSTALL_HINT in str(refused.value)


def test_without_the_models_the_step_is_skipped_and_the_cli_warns(monkeypatch, model_copy: Path,
                                                                   tmp_path: Path) -> None:
    (model_copy / "detect.prototxt").write_text("name: 'not the detector'")
    monkeypatch.setattr(wechat, "model_folder", lambda: model_copy)
    monkeypatch.setattr(wechat, "_shared", None)
    for _ in range(2):  # refused on every call, not only the first
        with pytest.raises(wechat.WeChatModelError):
            wechat.shared_reader()
    path = sample_dir("qrcode-4") / "06.webp"
    assert decode_image(rotate(read_image(path), 180)) == []  # only WeChat reads it

    png = tmp_path / "code.png"
    cv2.imwrite(str(png), on_canvas(render(segno.make_qr(URL, error="m"), scale=6), 50, 50))
    out, err = io.StringIO(), io.StringIO()
    status = crane_scan(["decode", str(png)], Environment(stdout=out, stderr=err, vars={}, stdout_isatty=False))
    assert status == ExitStatus.OK and URL in out.getvalue()
    assert "warning" in err.getvalue() and "跳过微信识别步骤" in err.getvalue() and "detect.prototxt" in err.getvalue()


def test_one_reader_per_process_even_when_threads_race(monkeypatch) -> None:
    built = []

    class Counted(wechat.Reader):
        def __init__(self) -> None:
            built.append(self)
            super().__init__()

    monkeypatch.setattr(wechat, "Reader", Counted)
    monkeypatch.setattr(wechat, "_shared", None)
    grey, text, _ = hard_shot(7)
    grey = decode._capped(grey)[0]
    with ThreadPoolExecutor(4) as pool:
        readers = list(pool.map(lambda _: wechat.shared_reader(), range(8)))
        assert len(built) == 1 and all(reader is built[0] for reader in readers)
        reads = list(pool.map(lambda _: [t for t, _ in built[0].read(grey)], range(4)))
    assert reads == [[text]] * 4
