"""Runs `crane-verify serve` as a user would: a real process on a port from the OS, stopped with its group."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


@dataclass
class Service:
    data_dir: Path
    args: tuple[str, ...] = ("--demo",)
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    process: subprocess.Popen | None = None
    log: list[str] = field(default_factory=list)
    _drain: threading.Thread | None = field(default=None, repr=False)

    def start(self, timeout: float = 60.0) -> Service:
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> Service:
        env = {**os.environ, "CRANE_RATE_LIMIT": "off", **self.env}
        if "REDIS_URL" not in self.env:
            env.pop("REDIS_URL", None)  # the embedded server of the data directory
        self.process = subprocess.Popen(
            [str(BIN / "crane-verify"), "serve", "--port", "0", "--data-dir", str(self.data_dir), *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("crane-verify serve exited:\n" + "".join(self.log))
            self.log.append(line)
            match = re.search(r"serving on (\S+)", line)
            if match:
                self.url = match.group(1)
                break
        else:
            raise RuntimeError("crane-verify serve did not start:\n" + "".join(self.log))
        # keep reading what the service prints: a full pipe would stall it
        self._drain = threading.Thread(target=self._read_output, daemon=True)
        self._drain.start()
        while time.monotonic() < deadline:
            try:
                if self.get("/readyz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("service never became ready:\n" + "".join(self.log))

    def _read_output(self) -> None:
        try:
            for line in self.process.stdout:
                self.log.append(line)
        except (OSError, ValueError):
            pass

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self._drain:
            self._drain.join(5)
        if self.process and self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def request(self, method: str, path: str, body: dict | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            **({"Content-Type": "application/json"} if data else {}), **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def get(self, path: str, **kw) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: dict, **kw) -> tuple[int, dict[str, str], bytes]:
        return self.request("POST", path, body, **kw)

    def manifest(self) -> dict:
        return json.loads((self.data_dir / "demo" / "manifest.json").read_text("utf-8"))


def process_tree() -> dict[int, list[int]]:
    """Parent pid -> pids of its living children, read from /proc."""
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
