"""Sources: folders searched recursively, video files sampled and merged across frames, and the camera
loop (driven by a fake VideoCapture-like source, or a video file's capture standing in for a camera)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from keys.answer import Answer, Signature, SignatureResult, State, Status
from keys.cli_env import ExitStatus
from qrdecode.decode import Code, Engine
from scanner import camera
from scanner.sources import Sighting, expand, scan_video
from scanner.verdicts import Checked, Finding
from tests.scanner import photos
from tests.scanner.conftest import Photo, Service, crane_scan

SIZE = (960, 720)


@pytest.fixture(scope="module")
def video(service: Service, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """3 s at 10 fps: nothing for 1 s, then a valid certificate, from 2 s a revoked one beside it."""
    a = service.certificates("valid")[7]["qr_text"]
    b = service.certificates("revoked")[1]["qr_text"]
    shot = photos.Shot(size=SIZE)
    blank = photos.background(np.random.default_rng(1), *SIZE)
    one, _ = photos.photo([photos.qr_grey(text=a)], 1, shot)
    two, _ = photos.photo([photos.qr_grey(text=a), photos.qr_grey(text=b)], 2, shot)
    path = tmp_path_factory.mktemp("video") / "walkround.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, SIZE)
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for i in range(30):
        writer.write(blank if i < 10 else one if i < 20 else two)
    writer.release()
    return path, a, b


def test_folders_are_searched_recursively(synced: Path, site_photos: list[Photo], tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "crane-1" / "day-2").mkdir(parents=True)
    chosen = site_photos[:3]
    targets = [root / "a.jpg", root / "crane-1" / "b.JPG", root / "crane-1" / "day-2" / "c.jpeg"]
    for photo, target in zip(chosen, targets, strict=True):
        target.write_bytes(photo.path.read_bytes())
    (root / "notes.txt").write_text("not an image")
    assert expand([root]) == sorted(targets)
    ran = crane_scan(["--json", str(root)], synced)
    answers = {Path(a["file"]): a for a in ran.json()}
    assert set(answers) == set(targets)
    for photo, target in zip(chosen, targets, strict=True):
        assert answers[target]["status"]["state"] == photo.expected


def test_video_codes_merge_across_frames(video, synced: Path) -> None:
    path, a, b = video
    result = scan_video(path, every=0.2)
    assert result.error is None
    assert result.frames == 15  # every other frame of 30
    assert [(s.code.text, s.frame, s.time_s) for s in result.sightings] == [(a, 10, 1.0), (b, 20, 2.0)]

    ran = crane_scan(["--json", str(path)], synced)
    answers = ran.json()
    assert [(x["text"], x["frame"], x["time_s"], x["file"]) for x in answers] == [
        (a, 10, 1.0, str(path)), (b, 20, 2.0, str(path))]
    assert [x["status"]["state"] for x in answers] == ["valid", "revoked"]
    assert ran.status == ExitStatus.NOT_OK


def test_video_annotations_and_report_use_the_frames(video, synced: Path, tmp_path: Path) -> None:
    path, _, _ = video
    out, report = tmp_path / "ann", tmp_path / "r.html"
    crane_scan(["--json", str(path), "--annotate", str(out), "--report", str(report)], synced)
    assert sorted(p.name for p in out.iterdir()) == ["walkround.frame10.annotated.jpg",
                                                     "walkround.frame20.annotated.jpg"]
    assert cv2.imread(str(out / "walkround.frame20.annotated.jpg")).shape[:2] == (SIZE[1], SIZE[0])
    assert report.read_text("utf-8").count("data:image/jpeg;base64,") == 2
    assert "@2.0s" in report.read_text("utf-8")


def test_unreadable_video_is_named_and_skipped(synced: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    ran = crane_scan([str(broken)], synced)
    assert ran.status == ExitStatus.ERROR
    assert (ran.out + ran.err).count("broken.mp4") == 1  # named once: in the summary


# --- the camera loop ---------------------------------------------------------------------------------

class FakeCapture:
    """VideoCapture's read()/release(), from a list of frames; None is a failed read; an exception is raised."""

    def __init__(self, frames: list):
        self.frames = list(frames)
        self.released = False
        self.reads = 0

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def read(self):
        self.reads += 1
        if not self.frames:
            return False, None
        frame = self.frames.pop(0)
        if isinstance(frame, BaseException):
            raise frame
        return (frame is not None), frame

    def release(self) -> None:
        self.released = True


def _frame(texts: tuple[str, ...]) -> np.ndarray:
    return _Tagged(np.zeros((4, 4, 3), np.uint8), texts)


class _Tagged(np.ndarray):
    """A frame that says which codes a fake decoder finds in it."""

    def __new__(cls, array: np.ndarray, texts: tuple[str, ...]):
        obj = np.asarray(array).view(cls)
        obj.texts = texts
        return obj

    def __array_finalize__(self, obj) -> None:
        self.texts = getattr(obj, "texts", ())


def _decode(frame) -> list[Code]:
    return [Code(t, ((0, 0), (1, 0), (1, 1), (0, 1)), Engine.ZXING) for t in frame.texts]


def _finding(sighting: Sighting) -> Finding:
    answer = Answer(Signature(SignatureResult.VALID), Status(State.VALID), datetime(2026, 11, 24, tzinfo=UTC))
    return Finding("camera:0", sighting.code.text, [[0, 0]] * 4, "zxing", Checked(answer, "offline", 0),
                   sighting.frame)


def test_each_code_is_verified_once_and_max_frames_stops() -> None:
    frames = [_frame(()), _frame(("A",)), _frame(("A", "B")), _frame(("B",)), _frame(("C",)), _frame(("D",))]
    source = FakeCapture(frames)
    seen: list[tuple[str, int]] = []

    def on_new(s: Sighting) -> Finding:
        seen.append((s.code.text, s.frame))
        return _finding(s)

    result = camera.live(source, on_new, max_frames=5, decode=_decode)
    assert seen == [("A", 2), ("B", 3), ("C", 5)]
    assert result.frames == 5 and result.stopped_by == "max-frames"
    assert set(result.findings) == {"A", "B", "C"}
    assert source.released and source.reads == 5


def test_ctrl_c_stops_the_loop_cleanly() -> None:
    source = FakeCapture([_frame(("A",)), _frame(()), KeyboardInterrupt(), _frame(("B",))])
    result = camera.live(source, _finding, decode=_decode)
    assert result.stopped_by == "interrupt"
    assert list(result.findings) == ["A"] and result.frames == 2
    assert source.released


def test_source_that_stops_giving_frames_ends_the_loop() -> None:
    source = FakeCapture([_frame(("A",)), None, _frame(("B",))])  # one failed read is tolerated
    result = camera.live(source, _finding, decode=_decode, max_failures=3)
    assert list(result.findings) == ["A", "B"]
    assert result.stopped_by == "end" and source.released
    dead = FakeCapture([])
    assert camera.live(dead, _finding, decode=_decode, max_failures=3).stopped_by == "read-failure"


def test_window_close_stops_and_display_sees_every_frame() -> None:
    class Display:
        def __init__(self):
            self.shown: list[tuple[int, list[str], list[str]]] = []
            self.closed = False

        def show(self, frame, codes, findings) -> bool:
            self.shown.append((len(self.shown) + 1, [c.text for c in codes], sorted(findings)))
            return len(self.shown) < 3  # the user closes the window on the third frame

        def close(self) -> None:
            self.closed = True

    display = Display()
    source = FakeCapture([_frame(("A",)), _frame(()), _frame(("B",)), _frame(("C",))])
    result = camera.live(source, _finding, display=display, decode=_decode)
    assert display.shown == [(1, ["A"], ["A"]), (2, [], ["A"]), (3, ["B"], ["A", "B"])]
    assert result.stopped_by == "window" and display.closed and source.released


def test_no_window_without_a_display() -> None:
    assert camera.open_window({}) is None
    assert camera.open_window({"DISPLAY": ":4711"}) is None  # no such X server socket


def test_camera_command_prints_verdicts_without_a_window(video, synced: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path, a, b = video
    monkeypatch.setattr(camera, "open_camera", lambda index: cv2.VideoCapture(str(path)))
    ran = crane_scan(["--camera", "0", "--max-frames", "25"], synced, env_vars={})
    lines = [line for line in ran.out.splitlines() if line.startswith(("✔", "✖", "⚠", "?"))]
    assert len(lines) == 2
    assert lines[0].startswith("✔ 证书有效 / Certificate valid") and "camera:0" in lines[0]
    assert lines[1].startswith("✖ 证书已撤销 / Certificate revoked")
    assert "25 frames" in ran.err and "stopped: max-frames" in ran.err
    assert ran.status == ExitStatus.NOT_OK

    as_json = crane_scan(["--camera", "0", "--max-frames", "15", "--json"], synced, env_vars={})
    [answer] = as_json.json()
    assert answer["text"] == a and answer["file"] == "camera:0" and answer["frame"] == 11
    assert as_json.status == ExitStatus.OK


def test_camera_that_cannot_be_opened(synced: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(camera, "open_camera", lambda index: cv2.VideoCapture("/nonexistent/device.mp4"))
    ran = crane_scan(["--camera", "3"], synced, env_vars={})
    assert ran.status == ExitStatus.ERROR and "no camera 3" in ran.err
