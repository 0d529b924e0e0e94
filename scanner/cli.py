"""crane-scan: the inspector's tool. Verify the QR codes in photos, folders, videos or a live camera.

    crane-scan PATH... [--online URL] [--json] [--csv F] [--annotate DIR] [--report F.html]
                       [--expect-record NO] [--expect-serial NO] [--expect-project NAME]
    crane-scan --camera N | crane-scan VIDEO.mp4
    crane-scan sync --server URL [--root-pub ROOT.pub.pem]
    crane-scan decode IMAGE... [--json]
    crane-scan info

The offline data lives in the user's data directory and the root pin in the user's configuration
directory (scanner.places), so a scan works from any folder once a sync has run.

Each command is `main(args, env) -> ExitStatus` (keys.cli_env), so tests run it with their own streams
and clock. Exit statuses as in README.md: scan 0 when every image gave codes and every code is ok, 1 when
a code is not ok or an image has none, 2 on usage errors or when no input could be read.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from keys.algorithms import PublicKey
from keys.cli_env import Environment, ExitStatus, run
from qrdecode import wechat
from qrdecode.decode import DecodeError, decode_paths, read_image

from . import annotate, camera, documents, places, report, upload
from .offline import NoOfflineData, OfflineCache, OfflineChecker, china
from .online import DEFAULT_TIMEOUT, OnlineChecker, ServiceClient, Unreachable
from .pin import PinError, PinStore
from .report import Run
from .sources import DEFAULT_EVERY, Sighting, expand, scan_source
from .sync import DEFAULT_PAGE, SyncRefused, describe, sync
from .verdicts import Checked, Expectations, Finding

PROG = "crane-scan"
DATA_DIR_HELP = ("data directory (default: $CRANE_SCAN_DATA, $CRANE_DATA_DIR, or the user's $XDG_DATA_HOME/crane-scan, "
                 "~/.local/share/crane-scan); the offline data is DIR/scanner/offline.sqlite")
ROOT_HELP = ("the root public key (default: $CRANE_ROOT_PUB, else the one pinned at the first sync in "
             "$XDG_CONFIG_HOME/crane-scan, ~/.config/crane-scan)")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(d|h|m|s)?\s*", re.IGNORECASE)
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1, None: 1}


def parse_duration(value: str) -> timedelta:
    """7d, 36h, 90m, 3600s or a number of seconds."""
    match = _DURATION.fullmatch(value or "")
    if not match:
        raise click.BadParameter(f"{value!r} is not a duration such as 7d, 36h, 90m or 3600", param_hint="--max-age")
    return timedelta(seconds=float(match.group(1)) * _UNITS[(match.group(2) or "").lower() or None])


def data_dir_of(env: Environment, given: str | None) -> Path:
    return places.data_dir(env.vars, given)


def pins_of(env: Environment, data_dir: Path) -> PinStore:
    return PinStore(places.config_dir(env.vars), data_dir)


def given_root(env: Environment, given: str | None) -> PublicKey | None:
    path = given or env.vars.get("CRANE_ROOT_PUB")
    if not path:
        return None
    try:
        return PublicKey.from_pem(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"无法读取根公钥 / cannot read the root public key {path}: {exc}",
                                 param_hint="--root-pub") from None


def root_of(env: Environment, data_dir: Path, given: str | None):
    """The root to check the offline data against, resolved when the data is first needed."""
    return lambda: pins_of(env, data_dir).choose(given_root(env, given))[0]


def _points(code) -> list[list[float]]:
    return [[round(float(x), 1), round(float(y), 1)] for x, y in code.points]


class ScanGroup(click.Group):
    """`crane-scan PATH...` is `crane-scan scan PATH...`: the verb inspectors use most needs no name."""

    default_command = "scan"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


@click.group(cls=ScanGroup, help="Check crane use-registration certificates by their QR codes, online or "
             "offline. `crane-scan PATH...` runs `scan` (a file literally named like a command: ./sync).")
def cli() -> None:
    pass


# --- scan --------------------------------------------------------------------------------------------

@cli.command("scan", help="Verify every QR code in images, folders (recursively), videos or a camera.")
@click.argument("paths", nargs=-1, type=click.Path(), metavar="PATH...")
@click.option("--online", metavar="URL", help="ask the service at URL; offline data is the fallback")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=DEFAULT_TIMEOUT, show_default=True,
              help="seconds to wait for the service before falling back to offline data")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per code per line")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="also write a CSV file")
@click.option("--annotate", "annotate_dir", type=click.Path(file_okay=False),
              help="write a copy of each image with outlines and verdicts into DIR")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="write an HTML inspection report")
@click.option("--expect-record", metavar="NO", help="the property record number on the crane's plate")
@click.option("--expect-serial", metavar="NO", help="the factory serial number on the crane's nameplate")
@click.option("--expect-project", metavar="NAME", help="the project (site) name")
@click.option("--camera", "camera_index", type=click.IntRange(0), metavar="N", help="read the camera with index N")
@click.option("--max-frames", type=click.IntRange(1), help="camera: stop after this many frames; "
              "video: sample at most this many frames")
@click.option("--every", type=click.FloatRange(0.01, 60), default=DEFAULT_EVERY, show_default=True,
              help="video: seconds between sampled frames")
@click.option("--max-age", default="7d", show_default=True,
              help="offline data older than this gives status unknown (e.g. 7d, 36h)")
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.option("--root-pub", type=click.Path(dir_okay=False), metavar="ROOT.pub.pem", help=ROOT_HELP)
@click.option("--upload", "upload_url", metavar="URL", help="send each check to the service at URL as an inspection "
              "record (queued in the data directory while it cannot be reached)")
@click.option("--token", help="the inspector's token for --upload (default: $CRANE_INSPECTOR_TOKEN)")
@click.pass_obj
def scan(env: Environment, paths: tuple[str, ...], online: str | None, timeout: float, as_json: bool,
         csv_path: str | None, annotate_dir: str | None, report_path: str | None, expect_record: str | None,
         expect_serial: str | None, expect_project: str | None, camera_index: int | None, max_frames: int | None,
         every: float, max_age: str, data_dir: str | None, root_pub: str | None, upload_url: str | None,
         token: str | None):
    if camera_index is None and not paths:
        raise click.UsageError("give PATH... (images, folders, videos) or --camera N")
    if camera_index is not None and paths:
        raise click.UsageError("--camera reads the camera; give no paths with it")
    expect = Expectations(expect_record or None, expect_serial or None, expect_project or None)
    scanner = _Scanner(env, expect, as_json, Path(annotate_dir) if annotate_dir else None, bool(report_path))
    if message := _wechat_missing(env):
        scanner.run.warnings.append(message)
    where = data_dir_of(env, data_dir)
    scanner.checker = _checker(env, scanner, online, timeout, parse_duration(max_age), where,
                               root_of(env, where, root_pub))
    scanner.uploader = _uploader(env, upload_url, token, data_dir_of(env, data_dir))
    if camera_index is not None:
        readable = scanner.camera(camera_index, max_frames)
    else:
        readable = scanner.files(paths, every, max_frames)
    result = scanner.run
    if not as_json:
        # Verdicts already printed line by line (camera without a window): the summary alone.
        report.print_table(report.console_for(env.stdout, env.stdout_isatty, env.vars.get("COLUMNS")), result,
                           with_table=not scanner.printed_live)
    if scanner.uploader is not None:
        for line in scanner.uploader.send(env.now()).lines():
            env.err(f"{PROG}: {line}")
    if csv_path:
        report.write_csv(Path(csv_path), result.findings)
    if report_path:
        report.write_html(Path(report_path), result, env.now())
    if not readable:
        env.err(f"{PROG}: error: no input could be read")
        return ExitStatus.ERROR
    everything_ok = result.findings and not result.without_codes and all(f.ok for f in result.findings)
    return ExitStatus.OK if everything_ok else ExitStatus.NOT_OK


def _checker(env: Environment, scanner: _Scanner, online: str | None, timeout: float, max_age: timedelta,
             data_dir: Path, root):
    offline = OfflineChecker(OfflineCache.in_data_dir(data_dir), root, max_age)
    if online:
        try:
            client = ServiceClient(online, timeout)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--online") from None
        return OnlineChecker(client, offline, on_fallback=scanner.fell_back)
    try:
        offline.ready()
    except NoOfflineData as exc:
        raise click.UsageError(f"{exc}. 请先同步或联网核验 / Run `crane-scan sync --server URL` first (with "
                               "--root-pub ROOT.pub.pem the first time), or check online with --online URL") from None
    return offline


def _uploader(env: Environment, url: str | None, token: str | None, data_dir: Path) -> upload.Uploader | None:
    token = token or env.vars.get("CRANE_INSPECTOR_TOKEN")
    if url is None:
        return None
    if not token:
        raise click.UsageError("--upload 需要检查员令牌 --token（或 $CRANE_INSPECTOR_TOKEN） / --upload needs the "
                               "inspector's --token (or $CRANE_INSPECTOR_TOKEN)")
    try:
        return upload.Uploader(url, token, upload.UploadQueue(upload.queue_path(data_dir)))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--upload") from None


class _Scanner:
    """One scan run: checks each sighting, streams JSON lines, keeps what the table and report need."""

    def __init__(self, env: Environment, expect: Expectations, as_json: bool, annotate_dir: Path | None,
                 thumbnails: bool):
        self.env = env
        self.expect = expect
        self.as_json = as_json
        self.annotate_dir = annotate_dir
        self.thumbnails = thumbnails
        self.checker: OnlineChecker | OfflineChecker | None = None
        self.uploader: upload.Uploader | None = None
        self.run = Run()
        self._taken: set[Path] = set()
        self._clock_warned = False
        self.printed_live = False

    def fell_back(self, why: str) -> None:
        message = f"联网核验失败，改用离线数据 / service unreachable ({why}); using offline data"
        self.run.warnings.append(message)
        self.env.err(f"{PROG}: warning: {message}")

    def check(self, source: str, sighting: Sighting) -> Finding:
        assert self.checker is not None
        code = sighting.code
        try:
            checked: Checked = self.checker.check(code.text, self.env.now())
        except NoOfflineData as exc:
            raise click.ClickException(str(exc)) from None
        checked.cross_check(self.expect)
        if checked.clock_before_sync and not self._clock_warned:
            self._clock_warned = True
            message = next((n for n in checked.notes if "时钟" in n), "device clock is earlier than the last sync")
            self.run.warnings.append(message)
            self.env.err(f"{PROG}: warning: {message}")
        finding = Finding(source, code.text, _points(code), str(code.engine), checked, sighting.frame, sighting.time_s)
        self.run.findings.append(finding)
        if self.uploader is not None:
            self.uploader.add(finding, self.env.now())
        if self.as_json:
            self.env.out(report.json_line(finding))
            self.env.stdout.flush()
        return finding

    def pictures(self, source: Path, pairs: list[tuple[Sighting, Finding]]) -> None:
        """Annotated copies and report thumbnails: per image file, or per video/camera frame."""
        if not pairs or not (self.annotate_dir or self.thumbnails):
            return
        groups: dict[int | None, list[tuple[Sighting, Finding]]] = defaultdict(list)
        for sighting, finding in pairs:
            groups[sighting.frame if sighting.image is not None else None].append((sighting, finding))
        for frame, members in groups.items():
            image = members[0][0].image
            if image is None:
                try:
                    image = read_image(source)
                except DecodeError as exc:
                    self.env.err(f"{PROG}: warning: cannot read {source} again for pictures: {exc.reason}")
                    continue
            findings = [f for _, f in members]
            if self.annotate_dir is not None:
                annotate.write(self.annotate_dir, source, image, findings, self._taken, frame)
            if self.thumbnails:
                for f in findings:
                    self.run.thumbnails[id(f)] = report.thumbnail(image, f.points, f.mark)

    def files(self, paths: tuple[str, ...], every: float, max_frames: int | None) -> int:
        sources = expand(paths)
        readable = 0
        progress = None
        if sources and _isatty(self.env.stderr) and len(sources) > 1:
            progress = Progress(TextColumn("扫描 scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                TextColumn("{task.description}"), console=Console(file=self.env.stderr),
                                transient=True)
        task = progress.add_task("", total=len(sources)) if progress else None
        if progress:
            progress.start()
        try:
            for path in sources:
                if progress is not None and task is not None:
                    progress.update(task, description=path.name)
                result = scan_source(path, every, max_frames)
                if progress is not None and task is not None:
                    progress.advance(task)
                if result.error is not None:
                    self.run.unreadable.append((str(path), result.error.reason))
                    if self.as_json:  # otherwise the summary under the table names it, once
                        self.env.err(f"{PROG}: skipped {path}: {result.error.reason}")
                    continue
                readable += 1
                if not result.sightings:
                    self.run.without_codes.append(str(path))
                    if self.as_json:
                        self.env.err(f"{PROG}: no QR code found in {path}")
                    continue
                pairs = [(s, self.check(str(path), s)) for s in result.sightings]
                self.pictures(path, pairs)
        finally:
            if progress:
                progress.stop()
        if not sources:
            self.env.err(f"{PROG}: no images or videos in {', '.join(paths)}")
        return readable

    def camera(self, index: int, max_frames: int | None) -> int:
        capture = camera.open_camera(index)
        if capture is None or not capture.isOpened():
            if capture is not None:
                capture.release()
            raise click.ClickException(camera.NO_CAMERA.format(index=index))
        window = camera.open_window(self.env.vars)
        label = f"camera:{index}"
        pairs: list[tuple[Sighting, Finding]] = []

        def on_new(sighting: Sighting) -> Finding:
            finding = self.check(label, sighting)
            pairs.append((sighting, finding))
            if not self.as_json and window is None:
                self.env.out(report.verdict_line(finding))
                self.env.stdout.flush()
            return finding

        self.printed_live = window is None and not self.as_json
        if self.printed_live:
            self.env.err(f"{PROG}: reading camera {index} without a window; Ctrl-C stops")
        outcome = camera.live(capture, on_new, max_frames=max_frames, display=window)
        self.env.err(f"{PROG}: camera {index}: {outcome.frames} frames, {len(outcome.findings)} code(s), "
                     f"stopped: {outcome.stopped_by}")
        self.pictures(Path(f"camera{index}"), pairs)
        if outcome.frames and not outcome.findings:
            self.run.without_codes.append(label)
        return 1 if outcome.frames else 0


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _wechat_missing(env: Environment) -> str | None:
    """Warn once when the WeChat models are missing or changed: the decoder then skips that step."""
    try:
        wechat.shared_reader()
    except wechat.WeChatModelError as exc:
        message = f"{exc}; 跳过微信识别步骤 / the WeChat step is skipped"
        env.err(f"{PROG}: warning: {message}")
        return message
    return None


# --- sync, decode, info ------------------------------------------------------------------------------

@cli.command("sync", help="Fetch the signed trust list and status feed into the offline data.")
@click.option("--server", required=True, metavar="URL", help="the verification service, e.g. https://verify.example.cn")
@click.option("--root-pub", type=click.Path(dir_okay=False), metavar="ROOT.pub.pem",
              help="the root public key to pin on the first sync (default: $CRANE_ROOT_PUB); kept in "
              "$XDG_CONFIG_HOME/crane-scan (~/.config/crane-scan) and used by every later sync and scan")
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=15.0, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 5000), default=DEFAULT_PAGE, show_default=True)
@click.pass_obj
def sync_command(env: Environment, server: str, root_pub: str | None, data_dir: str | None, timeout: float,
                 page_size: int):
    given = given_root(env, root_pub)
    try:
        client = ServiceClient(server, timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--server") from None
    where = data_dir_of(env, data_dir)
    cache = OfflineCache.in_data_dir(where)
    try:
        result = sync(client, cache, pins_of(env, where), given, env.now, page_size)
    except PinError as exc:
        if given is None:  # nothing pinned yet and nothing given
            raise click.UsageError(str(exc)) from None
        env.err(f"{PROG}: refused: {exc}")
        return ExitStatus.NOT_OK
    except SyncRefused as exc:
        env.err(f"{PROG}: refused: {exc}")
        return ExitStatus.NOT_OK
    except Unreachable as exc:
        env.err(f"{PROG}: error: cannot sync from {client.url}: {exc}")
        return ExitStatus.ERROR
    for line in describe(result, china):
        env.out(line)
    env.out(f"offline data: {cache.path}")
    env.out(f"root pin: {pins_of(env, where).path}")
    return ExitStatus.OK


@cli.command("decode", help="Print the QR codes found in images (no verification).")
@click.argument("images", nargs=-1, required=True, type=click.Path(), metavar="IMAGE...")
@click.option("--json", "as_json", is_flag=True, help='one {"file","text","points","engine"} per line')
@click.pass_obj
def decode_command(env: Environment, images: tuple[str, ...], as_json: bool):
    _wechat_missing(env)
    readable = found = 0
    for path, result in decode_paths(images):
        if isinstance(result, DecodeError):
            env.err(f"{PROG}: skipped {path}: {result.reason}")
            continue
        readable += 1
        if not result:
            env.err(f"{PROG}: no QR code found in {path}")
        for code in result:
            found += 1
            if as_json:
                env.out(json.dumps({"file": str(path), "text": code.text, "points": _points(code),
                                    "engine": str(code.engine)}, ensure_ascii=False))
            else:
                env.out(f"{path}\t{code.engine}\t{code.text}")
    if not readable:
        env.err(f"{PROG}: error: no input could be read")
        return ExitStatus.ERROR
    return ExitStatus.OK if found else ExitStatus.NOT_OK


@cli.command("document", help="Check e-certificate files: an OFD's seals and signatures and the QR codes "
             "inside; photos, screenshots and PDFs: their QR codes only.")
@click.argument("files", nargs=-1, required=True, type=click.Path(), metavar="FILE...")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file per line")
@click.option("--online", metavar="URL", help="resolve codes with the service at URL; offline data is the fallback")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=DEFAULT_TIMEOUT, show_default=True)
@click.option("--max-age", default="7d", show_default=True)
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.option("--seal-roots", metavar="ROOTS.pem", help="trusted seal root certificates (default: $CRANE_SEAL_ROOTS)")
@click.pass_obj
def document_command(env: Environment, files: tuple[str, ...], as_json: bool, online: str | None, timeout: float,
                     max_age: str, data_dir: str | None, seal_roots: str | None):
    scanner = _Scanner(env, Expectations(), as_json=False, annotate_dir=None, thumbnails=False)
    resolve: documents.Resolve = scanner.check
    try:
        where = data_dir_of(env, data_dir)
        scanner.checker = _checker(env, scanner, online, timeout, parse_duration(max_age), where,
                                   root_of(env, where, None))
    except click.UsageError as exc:
        # The seal is still checked; codes are listed as not resolved, and the exit status says so.
        env.err(f"{PROG}: warning: codes cannot be resolved: {exc.format_message()}")
        resolve = lambda _source, _sighting: None  # noqa: E731
    return documents.command(env, files, as_json, documents.load_roots(env, seal_roots), resolve)


@cli.command("info", help="Show what the offline data holds and how old it is.")
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.option("--root-pub", type=click.Path(dir_okay=False), metavar="ROOT.pub.pem", help=ROOT_HELP)
@click.option("--max-age", default="7d", show_default=True)
@click.pass_obj
def info(env: Environment, data_dir: str | None, root_pub: str | None, max_age: str):
    where = data_dir_of(env, data_dir)
    cache = OfflineCache.in_data_dir(where)
    allowed = parse_duration(max_age)
    if not cache.exists:
        env.out(f"no offline data at {cache.path}; run crane-scan sync")
        return ExitStatus.NOT_OK
    pins = pins_of(env, where)
    env.out(f"offline data: {cache.path}")
    env.out(f"server: {cache.meta().get('server', '?')}")
    for pin in pins.history():
        env.out(f"root {pin.root.kid} pinned {china(datetime.fromisoformat(pin.pinned_at))} (UTC+8, {pin.how}) in {pins.path}")
    try:
        data = OfflineChecker(cache, root_of(env, where, root_pub), allowed).ready()
    except NoOfflineData as exc:
        env.out(f"✖ {exc}")
        return ExitStatus.NOT_OK
    assert data.data_time is not None
    env.out(f"trust list serial {data.trust_serial}; certificate versions: {len(data.rows)}")
    age = env.now() - data.data_time
    env.out(f"数据截至 / data as of {china(data.data_time)} (UTC+8), {report.age_text(int(age.total_seconds()))} ago")
    if age < timedelta(0):
        env.out("⚠ 设备时钟早于数据时间 / the device clock is earlier than the offline data")
    if age > allowed:
        env.out(f"⚠ 离线数据已过期 / older than the allowed {max_age}: offline statuses read unknown")
        return ExitStatus.NOT_OK
    return ExitStatus.OK


def main(args: list[str], env: Environment | None = None) -> ExitStatus:
    return run(cli, PROG, args, env or Environment())


def entry() -> None:
    sys.exit(main(sys.argv[1:]))

