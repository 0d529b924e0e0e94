"""crane-verify: run the service, load demo data, import certificates, change status, manage tokens."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import click
import segno
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from keys.algorithms import Alg, PrivateKey
from keys.answer import State
from keys.cli_env import Environment, ExitStatus, run
from keys.errors import RecordError
from keys.payload import check_signed_record
from keys.record import Record
from keys.trustlist import TrustList

from . import demo
from .config import Config
from .inspections import Parts, purge
from .inspections.access import ENROLMENT_TTL, Enrolments, enrolment_qr_text
from .redis_server import ensure_embedded
from .store import Outcome, Store
from .store.tokens import Role
from .tls import init as init_tls
from .tls import tls_dir
from .trust import TrustSource

DATA_DIR_HELP = "data directory (default: $CRANE_DATA_DIR or ./var)"


def _config(env: Environment, data_dir: str | None) -> Config:
    overrides = {"data_dir": Path(data_dir)} if data_dir else {}
    return Config.from_env(env.vars, **overrides)


def require_set_up(config: Config) -> None:
    """Store commands work on a data directory made by `init`, `demo` or `serve`: a typo must not make a new one."""
    if config.redis_url or (config.data_dir / "redis").is_dir():
        return
    where = config.data_dir.resolve()
    raise click.ClickException(
        f"数据目录 {where} 尚未建立，没有登记库。请检查 --data-dir 或 CRANE_DATA_DIR 是否写错；"
        f"要新建，请运行 crane-verify init --data-dir {config.data_dir}（或 crane-verify demo）。 / "
        f"The data directory {where} has never been set up and holds no registry. Check --data-dir or "
        f"CRANE_DATA_DIR for a typo; to make a new one, run `crane-verify init --data-dir {config.data_dir}` "
        f"(or `crane-verify demo`).")


@contextlib.contextmanager
def open_store(config: Config, create: bool = False) -> Iterator[Store]:
    """REDIS_URL when set; else the data directory's embedded server, started for this command if needed.

    Only the commands that set a data directory up (`init`, `demo`, `serve`) pass `create`.
    """
    if config.redis_url:
        yield Store(config.redis_url, timeout=5.0, replicas=config.redis_replicas)
        return
    if not create:
        require_set_up(config)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    with ensure_embedded(config.data_dir) as handle:
        yield Store(handle.url, timeout=5.0)


@click.group(help="Crane certificate verification service.")
def cli() -> None:
    pass


@cli.command(help="Run the service under gunicorn (embedded Redis unless REDIS_URL is set).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int, help="0 picks a free port")
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--demo", "with_demo", is_flag=True, help="load the demo issuers and certificates first")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="serve HTTPS with this certificate "
              "(PEM; for trials on a phone, see `crane-verify tls init`)")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="the private key of --tls-cert (PEM)")
@click.pass_obj
def serve(env: Environment, host: str, port: int, data_dir: str | None, workers: int, with_demo: bool,
          tls_cert: str | None, tls_key: str | None):
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert 与 --tls-key 须同时给出 / --tls-cert and --tls-key go together")
    # Bind here, so --port 0 gets a port from the OS and the public URL is known before gunicorn starts.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1024)
    port = listener.getsockname()[1]
    url_host = f"[{host}]" if family == socket.AF_INET6 else host
    config = _config(env, data_dir)
    if "CRANE_PUBLIC_URL" not in env.vars:
        config = config.with_(public_url=f"{'https' if tls_cert else 'http'}://{url_host}:{port}")
    with open_store(config, create=True) as store:
        seal_roots = env.vars.get("CRANE_SEAL_ROOTS", "")
        if with_demo:
            manifest, created = demo.build(store, config.data_dir, config.public_url, env.now(), sealed_documents=True)
            env.out(f"demo: {created} new certificates; manifest {manifest.resolve()}")
            env.out(f"demo QR images: {(manifest.parent / 'qr').resolve()}")
            env.out(f"demo sealed OFD files: {(manifest.parent / 'ofd').resolve()} (demo seal root trusted)")
            seal_roots = os.pathsep.join(filter(None, (seal_roots, str(demo.seal_root_path(config.data_dir).resolve()))))
        # One metrics folder per serve process: nodes sharing a data directory must not wipe each other's.
        metrics_dir = config.data_dir / "metrics" / str(os.getpid())
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        child_env = {**env.vars, "REDIS_URL": store.url, "CRANE_DATA_DIR": str(config.data_dir),
                     "CRANE_PUBLIC_URL": config.public_url, "CRANE_WORKERS": str(workers),
                     "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir.resolve()), "CRANE_SEAL_ROOTS": seal_roots}
        if tls_cert and tls_key:  # read by gunicorn_conf.py
            child_env.update(CRANE_TLS_CERT=str(Path(tls_cert).resolve()), CRANE_TLS_KEY=str(Path(tls_key).resolve()))
        command = [sys.executable, "-m", "gunicorn", "-c", str(Path(__file__).with_name("gunicorn_conf.py")),
                   "--bind", f"fd://{listener.fileno()}", "verify_api.wsgi:app"]
        env.out(f"serving on {config.public_url} (data {config.data_dir.resolve()}, store {store.url})")
        env.stdout.flush()
        child = subprocess.Popen(command, env=child_env, pass_fds=(listener.fileno(),), start_new_session=True,
                                 preexec_fn=_die_with_parent)
        listener.close()
        try:
            return _supervise(child)
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _die_with_parent() -> None:
    """gunicorn does not notice its parent dying: have the kernel send it SIGTERM if `serve` is killed outright."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _supervise(child: subprocess.Popen) -> ExitStatus:
    """Forward stop signals to gunicorn's whole process group and wait for it."""
    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        code = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    return ExitStatus.OK if code in (0, -signal.SIGTERM, -signal.SIGINT) else ExitStatus.ERROR


@cli.command("demo", help="Create demo keys, trust list and certificates; write demo/manifest.json.")
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.pass_obj
def demo_command(env: Environment, data_dir: str | None):
    config = _config(env, data_dir)
    with open_store(config, create=True) as store:
        manifest, created = demo.build(store, config.data_dir, config.public_url, env.now(), sealed_documents=True)
    env.out(f"{created} new demo certificates registered")
    env.out(f"QR images: {(manifest.parent / 'qr').resolve()}")
    env.out(f"sealed OFD files (demo seal, no legal force): {(manifest.parent / 'ofd').resolve()}; "
            f"seal root {demo.seal_root_path(config.data_dir).resolve()}")
    env.out(str(manifest.resolve()))


@cli.command("import", help="Import certificates from JSON lines: {\"record\": {...}, \"qr_text\": \"...\"}.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True), metavar="FILE.jsonl")
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.pass_obj
def import_command(env: Environment, file: str, data_dir: str | None):
    config = _config(env, data_dir)
    require_set_up(config)
    trust = TrustSource(config.trust_path, config.root_pub_path).current()
    now = env.now()
    rejected = 0
    counts = {o: 0 for o in Outcome}
    lines = sys.stdin.readlines() if file == "-" else Path(file).read_text("utf-8").splitlines()

    # One console on stderr for the bar and the rejections, so they never interleave.
    console = Console(file=env.stderr, highlight=False, soft_wrap=True)

    def reject(number: int, why: str) -> None:
        nonlocal rejected
        rejected += 1
        console.print(f"line {number}: rejected: {why}", markup=False)

    def accepted() -> Iterator[tuple[int, Record, str | None]]:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield (number, *_checked_line(line, trust, now))
            except ValueError as exc:
                reject(number, str(exc))

    progress = Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console)
    with open_store(config) as store, progress:
        task = progress.add_task("import", total=len(lines))
        items = list(accepted())
        for (number, record, _qr), change in zip(items, store.register_many(
                ((record, qr) for _, record, qr in items), "operator:import", now), strict=True):
            counts[change.outcome] += 1
            if change.outcome is Outcome.CONFLICT or change.outcome is Outcome.FORBIDDEN:
                reject(number, f"{record.registration_no}: {change.detail}")
            progress.advance(task)
        progress.update(task, completed=len(lines))
    env.out(f"imported {counts[Outcome.CREATED]}, already present {counts[Outcome.UNCHANGED]}, rejected {rejected}")
    return ExitStatus.OK if rejected == 0 else ExitStatus.NOT_OK


def _checked_line(line: str, trust: TrustList, now: datetime) -> tuple[Record, str | None]:
    try:
        item = json.loads(line)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(item, dict) or not isinstance(item.get("record"), dict):
        raise ValueError('expected {"record": {...}, "qr_text": "..."}')
    try:
        record = Record.from_json(item["record"])
    except RecordError as exc:
        raise ValueError(str(exc)) from None
    return record, check_signed_record(record, item.get("qr_text"), trust, now)


@cli.command(help="Change a certificate's status as the operator (audited).")
@click.argument("registration_no")
@click.argument("state", type=click.Choice(["valid", "suspended", "revoked", "ended"]))
@click.option("--reason", required=True)
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.pass_obj
def status(env: Environment, registration_no: str, state: str, reason: str, data_dir: str | None):
    config = _config(env, data_dir)
    with open_store(config) as store:
        change = store.change_status(registration_no, State(state), reason, "operator:cli", env.now(), issuer=None)
    if change.outcome is Outcome.NOT_FOUND:
        raise click.ClickException(f"登记库中没有使用登记编号为 {registration_no} 的证书，请核对编号（区分全角半角） / "
                                   f"no certificate with registration number {registration_no}: check the number")
    if change.outcome is Outcome.UNCHANGED:
        env.out(f"{registration_no} v{change.version}: 已是 {change.after}，未改变 / already {change.after}, unchanged")
        return
    if change.outcome is not Outcome.CHANGED:
        raise click.ClickException(change.detail or f"状态未改变 / status not changed ({change.outcome.value})")
    env.out(f"{registration_no} v{change.version}: {change.before} -> {change.after}")


@cli.command(help="Set up a new data directory: its redis-server, the feed signing key; then says what goes where.")
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.pass_obj
def init(env: Environment, data_dir: str | None):
    config = _config(env, data_dir)
    if (config.data_dir / "redis").is_dir():
        env.out(f"数据目录已建立 / the data directory is already set up: {config.data_dir.resolve()}")
    with open_store(config, create=True):
        pass
    feed = config.feed_key_path
    if not feed.exists():
        PrivateKey.generate(Alg.EDDSA).write(feed)
    kid = PrivateKey.from_pem(feed.read_bytes()).public_key().kid
    env.out(f"data directory {config.data_dir.resolve()}: registry ready")
    env.out(f"feed signing key {feed} (kid {kid}): have the root key holder add its public key to the trust list "
            f"with role feed (crane-keys trust add ... --role feed)")
    env.out(f"then put the signed trust list at {config.trust_path} and the root public key at {config.root_pub_path}")


@cli.group(help="Issuer API tokens (stored hashed; shown once).")
def token() -> None:
    pass


@token.command("create")
@click.option("--issuer", help="issuer token: the authority's 6-digit division code")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.ISSUER.value, show_default=True)
@click.option("--region", help="inspector or supervisor: the region, a division-code prefix such as 21 or 2101")
@click.option("--name", default="", help="inspector or supervisor: the person's name")
@click.option("--days", type=click.IntRange(1, 3650), default=180, show_default=True,
              help="inspector or supervisor: days until the token expires")
@click.option("--personal-data", is_flag=True, help="supervisor: may read inspectors' names and numbers unmasked")
@click.option("--enrol", is_flag=True, help="also make a one-time enrolment QR (10 minutes) for the phone app")
@click.option("--qr-png", type=click.Path(dir_okay=False), help="where to write the enrolment QR "
              "(default: <data dir>/enrolment/<token id>.png)")
@click.option("--note", default="")
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.pass_obj
def token_create(env: Environment, issuer: str | None, role: str, region: str | None, name: str, days: int,
                 personal_data: bool, enrol: bool, qr_png: str | None, note: str, data_dir: str | None):
    if enrol and Role(role) is not Role.INSPECTOR:
        raise click.UsageError("--enrol 只用于检查员令牌（手机应用登记） / --enrol is for inspector tokens only (the "
                               "phone app's enrolment)")
    if personal_data and Role(role) is not Role.SUPERVISOR:
        raise click.UsageError("--personal-data 只用于监督人员令牌 / --personal-data is for supervisor tokens only")
    config = _config(env, data_dir)
    now = env.now()
    if Role(role) is Role.ISSUER:
        if not (issuer and issuer.isdigit() and len(issuer) == 6):
            raise click.BadParameter("a 6-digit division code such as 210100", param_hint="--issuer")
        # A token for an authority the trust list does not name could register nothing: refuse it now.
        if TrustSource(config.trust_path, config.root_pub_path).current().issuer(issuer) is None:
            raise click.UsageError(f"信任列表中没有发证机关 {issuer}，不能为其创建令牌；请先将其加入信任列表并签名发布 / "
                                   f"issuer {issuer} is not in the trust list: add it to the list and sign it first")
        scope, expires_at, name = issuer, None, ""
    else:
        if issuer or not (region and region.isdigit() and len(region) in (2, 4, 6)):
            raise click.BadParameter("a region of 2, 4 or 6 digits such as 21 or 2101 (not --issuer)",
                                     param_hint="--region")
        scope, expires_at = region, now + timedelta(days=days)
    with open_store(config) as store:
        token_id, secret = store.create_token(scope, now, note, role=Role(role), name=name.strip(),
                                              expires_at=expires_at, personal_data=personal_data)
        code = Enrolments(store.transport).create(secret, now) if enrol else None
    who = f"issuer {scope}" if expires_at is None else f"{role} {name.strip()} region {scope}, expires {expires_at:%Y-%m-%d}"
    env.out(f"token {token_id} for {who}; it is shown only now, keep it secret")
    if code is not None:
        text = enrolment_qr_text(config.public_url, code)
        png = Path(qr_png) if qr_png else config.data_dir / "enrolment" / f"{token_id}.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        segno.make_qr(text, error="m").save(str(png), scale=8, border=4)
        env.out(f"enrolment QR: {text}")
        env.out(f"登记码图片，{ENROLMENT_TTL.seconds // 60} 分钟内可用一次 / enrolment QR image, one use within "
                f"{ENROLMENT_TTL.seconds // 60} minutes: {png}")
    env.out(secret)


@cli.group(help="TLS for trials on a real phone over the LAN.")
def tls() -> None:
    pass


@tls.command("init", help="Make a local certificate authority (once) and a server certificate for HOST, "
             "under <data dir>/tls/. Install ca.pem on the phone once.")
@click.option("--host", required=True, help="the machine's LAN address (or host name), e.g. 192.168.1.20")
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.pass_obj
def tls_init(env: Environment, host: str, data_dir: str | None):
    config = _config(env, data_dir)
    files = init_tls(tls_dir(config.data_dir), host, env.now())
    made = "made" if files.created_ca else "kept"
    env.out(f"本地证书颁发机构 / local CA ({made}): {files.ca_cert.resolve()}  (install this on the phone once)")
    env.out(f"服务器证书 / server certificate for {host}: {files.cert.resolve()}")
    env.out(f"私钥 / its key: {files.key.resolve()}")
    env.out(f'run: make run ARGS="--host 0.0.0.0 --tls-cert {files.cert.resolve()} --tls-key {files.key.resolve()}"')
    env.out(f"then open https://{host}:8000/scan/ on the phone")


@cli.group(help="Inspection records: retention.")
def inspections() -> None:
    pass


@inspections.command("purge", help="Delete inspection records and photos older than their retention "
                     "(CRANE_INSPECTION_RETENTION_DAYS, default 3 years; CRANE_PHOTO_RETENTION_DAYS, default 1 year).")
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.pass_obj
def inspections_purge(env: Environment, data_dir: str | None):
    config = _config(env, data_dir)
    with open_store(config) as store:
        records, photos = purge(Parts.of(store, config), env.now())
    env.out(f"已删除 {records} 条检查记录、{photos} 张照片 / purged {records} inspection records and {photos} photos")


@token.command("revoke")
@click.argument("token_id")
@click.option("--data-dir", help=DATA_DIR_HELP)
@click.pass_obj
def token_revoke(env: Environment, token_id: str, data_dir: str | None):
    config = _config(env, data_dir)
    with open_store(config) as store:
        if not store.revoke_token(token_id, env.now()):
            raise click.ClickException(f"没有编号为 {token_id} 的令牌；编号是 token create 打印的第一行中 token 后的 12 位 / "
                                       f"no token {token_id}: the id is the 12 characters after `token` in the first "
                                       f"line `token create` printed")
    env.out(f"token {token_id} revoked")


def main(args: list[str], env: Environment | None = None) -> ExitStatus:
    return run(cli, "crane-verify", args, env or Environment())


def entry() -> None:
    sys.exit(main(sys.argv[1:]))

