"""A local Redis Cluster of real redis-server processes: for the tests, the benchmarks and trying cluster mode.

Not shipped: it lives beside the tests (tests/cluster) and the benchmarks (bench/cluster.py) that use it.

`LocalCluster` runs masters x (1 + replicas) redis-servers in cluster mode on loopback TCP ports, each a
`RedisServer` in a directory of its own (AOF, `appendfsync always`, own process group), joins them with
`redis-cli --cluster create`, and waits until every node agrees that the cluster is up and every replica
is in sync. A node can be killed (SIGKILL to its process group, as a crash would) and started again: it
comes back with its nodes.conf and AOF and rejoins, as a replica of whoever took over its slots.

Its `url` is the service's `REDIS_URL`: `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import redis
from redis.crc import key_slot

from verify_api.redis_server import RedisServer, RedisServerError, _free_port

SLOTS = 16384


class ClusterError(RuntimeError):
    """The local cluster could not be created, or did not reach the state asked for in time."""


def find_redis_cli() -> str:
    found = shutil.which("redis-cli")
    if not found:
        raise ClusterError("redis-cli not found: apt-get install redis-tools (it comes with redis-server)")
    return found


@dataclass
class LocalCluster:
    """`masters` shards with `replicas` replicas each; `node_timeout_ms` is cluster-node-timeout.

    Partial coverage is allowed (`cluster-require-full-coverage no`): while one shard fails over, the
    others keep answering, which is what a verification service wants (see docs/deployment.md).
    """

    directory: Path
    masters: int = 3
    replicas: int = 1
    node_timeout_ms: int = 2000
    binary: str | None = None
    extra_config: Sequence[str] = ()
    nodes: list[RedisServer] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory).resolve()

    # --- life cycle -----------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> LocalCluster:
        if self.nodes:
            raise ClusterError("cluster already started")
        try:
            for index in range(self.masters * (1 + self.replicas)):
                self.nodes.append(self._start_node(index))
            command = [find_redis_cli(), "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                       "--cluster-replicas", str(self.replicas), "--cluster-yes"]
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
            if result.returncode != 0:
                raise ClusterError(f"redis-cli --cluster create failed:\n{result.stdout}\n{result.stderr}")
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every node, whatever state each is in; never raises for one node's failure."""
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop(timeout=5.0)
            with contextlib.suppress(Exception):
                node.kill()  # whatever is left of its process group
        self.nodes = []

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _start_node(self, index: int) -> RedisServer:
        last: Exception | None = None
        for _ in range(5):  # another process may take a port between choosing and binding it
            port, bus = _free_port(), _free_port()
            if port == bus:
                continue
            node = RedisServer(self.directory / f"node-{index}", tcp=True, port=port, binary=self.binary,
                               extra_config=["cluster-enabled yes", "cluster-config-file nodes.conf",
                                             f"cluster-node-timeout {self.node_timeout_ms}", f"cluster-port {bus}",
                                             "cluster-require-full-coverage no", "repl-diskless-sync-delay 0",
                                             *self.extra_config])
            try:
                node.start()
                return node
            except RedisServerError as exc:
                last = exc
        raise ClusterError(f"could not start cluster node {index}: {last}")

    # --- what it looks like ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def running(self) -> list[RedisServer]:
        return [n for n in self.nodes if n.running]

    def node_client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=2.0, socket_connect_timeout=2.0,
                           decode_responses=True)

    def _by_port(self, port: int) -> RedisServer:
        return next(n for n in self.nodes if n.port == port)

    def slot_owners(self) -> dict[int, RedisServer]:
        """Slot -> the node that serves it now, in the view of the first running node that answers."""
        for node in self.running:
            try:
                with self.node_client(node) as client:
                    ranges = client.execute_command("CLUSTER", "SLOTS")
            except redis.RedisError:
                continue
            owners: dict[int, RedisServer] = {}
            for entry in ranges:
                start, end, master = int(entry[0]), int(entry[1]), entry[2]
                owner = self._by_port(int(master[1]))
                for slot in range(start, end + 1):
                    owners[slot] = owner
            return owners
        raise ClusterError("no cluster node answers")

    def master_of(self, key: str) -> RedisServer:
        """The node that serves `key` now."""
        return self.slot_owners()[key_slot(key.encode())]

    def role(self, node: RedisServer) -> str:
        with self.node_client(node) as client:
            return str(client.execute_command("ROLE")[0])

    def primaries(self) -> list[RedisServer]:
        return [n for n in self.running if self._answers_role(n) == "master"]

    def _answers_role(self, node: RedisServer) -> str | None:
        try:
            return self.role(node)
        except redis.RedisError:
            return None

    # --- waiting --------------------------------------------------------------------------------------

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Every running node says cluster_state:ok, knows every running node as healthy, and every slot is
        served by a master whose replicas (as many as are running) are connected and in sync."""
        deadline = time.monotonic() + timeout
        problem: str | None = "not checked"
        while time.monotonic() < deadline:
            problem = self._not_ready()
            if problem is None:
                return
            time.sleep(0.1)
        raise ClusterError(f"cluster not ready after {timeout:.0f}s: {problem}")

    def _not_ready(self) -> str | None:
        running = self.running
        ports = {n.port for n in running}
        try:
            for node in running:
                with self.node_client(node) as client:
                    info = client.execute_command("CLUSTER", "INFO")
                    if "cluster_state:ok" not in info:
                        return f"node {node.port}: cluster state not ok"
                    if f"cluster_slots_assigned:{SLOTS}" not in info:
                        return f"node {node.port}: not every slot assigned"
                    for line in client.execute_command("CLUSTER", "NODES").splitlines():
                        fields = line.split()
                        port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
                        if port in ports and ("fail" in fields[2] or fields[7] != "connected"):
                            return f"node {node.port} sees {port} as {fields[2]} {fields[7]}"
            owners = self.slot_owners()
            if len(owners) != SLOTS:
                return "slots not covered"
            masters = list({n.port: n for n in owners.values()}.values())
            online = 0
            for master in masters:
                if not master.running:
                    return f"slots served by the dead node {master.port}"
                with self.node_client(master) as client:
                    replication = client.info("replication")
                if replication.get("role") != "master":
                    return f"node {master.port} serves slots but is not a master yet"
                replicas = [v for k, v in replication.items() if k.startswith("slave") and isinstance(v, dict)]
                online += sum(1 for r in replicas if r.get("state") == "online")
            if online != len(running) - len(masters):
                return f"{online} replicas online of {len(running) - len(masters)}"
        except (redis.RedisError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def own_slots(self, node: RedisServer) -> list[int]:
        """The slots `node` serves in its own view (read from its nodes.conf, so it works on a dead node)."""
        text = (node.directory / "nodes.conf").read_text(encoding="utf-8")
        line = next(line for line in text.splitlines() if "myself" in line)
        slots: list[int] = []
        for part in line.split()[8:]:
            if part.startswith("["):
                continue  # a slot being migrated
            start, _, end = part.partition("-")
            slots.extend(range(int(start), int(end or start) + 1))
        return slots

    def kill(self, node: RedisServer) -> float:
        """SIGKILL the node's process group, as a crash would; returns the monotonic time of the kill."""
        node.kill()
        return time.monotonic()

    def restart(self, node: RedisServer) -> None:
        """Start a killed node again: it reloads its AOF and nodes.conf and rejoins the cluster."""
        node.start()

    def wait_failover(self, dead: RedisServer, timeout: float = 30.0) -> RedisServer:
        """After the master `dead` was killed: the replica that took over its slots, once every running node
        calls the cluster ok and that replica answers as a master."""
        slots = self.own_slots(dead)
        if not slots:
            raise ClusterError(f"node {dead.port} served no slots")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, ClusterError, OSError):
                owner = self.slot_owners()[slots[0]]
                if owner is not dead and owner.running and self.role(owner) == "master" and self._all_ok():
                    return owner
            time.sleep(0.05)
        raise ClusterError(f"no replica took over from node {dead.port} within {timeout:.0f}s")

    def _all_ok(self) -> bool:
        for node in self.running:
            with self.node_client(node) as client:
                if "cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                    return False
        return True

    def flushall(self) -> None:
        for node in self.primaries():
            with self.node_client(node) as client:
                client.flushall()


# --- nginx in front of several service nodes ------------------------------------------------------------

NGINX_CONF = """\
# {comment}
daemon off;
master_process on;
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
{user}
events {{ worker_connections 4096; }}

http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    client_max_body_size 64k;
    # Slow clients wait here, not in the service: nginx reads a whole request before passing it on
    # (proxy_request_buffering is on by default), and drops a client that stops sending or reading.
    client_header_timeout 10s;
    client_body_timeout 10s;
    send_timeout 10s;
    keepalive_timeout 15s;
    reset_timedout_connection on;

    upstream crane_verify {{
{servers}
        keepalive 64;
    }}

    server {{
        listen 127.0.0.1:{port};
        # Prometheus scrapes each node on its own address; through here /metrics does not exist (^~: no
        # regex location can take it back; nginx decodes and merges slashes before matching).
        location ^~ /metrics {{
            return 404;
        }}
        location / {{
            proxy_pass http://crane_verify;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
            # a node that refuses connections or times out is skipped; POSTs are never sent twice
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


def find_nginx() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    raise ClusterError("nginx not found: apt-get install nginx (scripts/system-deps.sh test does it)")


@dataclass
class LocalNginx:
    """Debian's nginx with a config of its own in `directory`, load-balancing `upstreams` (host:port)."""

    directory: Path
    upstreams: Sequence[str]
    workers: int | str = 1
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The master's pid, which is also the process group of its workers."""
        return self._proc.pid if self._proc is not None else None

    @property
    def conf_path(self) -> Path:
        return Path(self.directory) / "nginx.conf"

    def config(self) -> str:
        servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=2s;" for u in self.upstreams)
        # as root, nginx would run its workers as nobody, who cannot use the temp directories here
        user = "user root;" if os.geteuid() == 0 else ""
        return NGINX_CONF.format(comment="written by devtools.cluster.LocalNginx", dir=Path(self.directory).resolve(),
                                 user=user, servers=servers, port=self.port, workers=self.workers)

    def start(self, timeout: float = 15.0) -> LocalNginx:
        directory = Path(self.directory).resolve()
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (directory / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        last = ""
        for _ in range(5):
            self.port = self.port or _free_port()
            self.conf_path.write_text(self.config(), encoding="utf-8")
            self._proc = subprocess.Popen(
                [find_nginx(), "-p", str(directory), "-c", str(self.conf_path), "-e", str(directory / "error.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._proc.poll() is None:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
                time.sleep(0.05)
            last = (directory / "error.log").read_text(encoding="utf-8", errors="replace")[-2000:] \
                if (directory / "error.log").exists() else ""
            self.stop()
            self.port = 0
        raise ClusterError(f"nginx did not start:\n{last}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGQUIT (finish the requests in flight), then SIGKILL whatever is left of the process group."""
        if self._proc is None:
            return
        pid = self._proc.pid
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGQUIT)
            deadline = time.monotonic() + timeout
            # WNOWAIT keeps the master a zombie, so its pid (the group's id) is not reused before the SIGKILL
            while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None \
                    and time.monotonic() < deadline:
                time.sleep(0.02)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self._proc.wait()
        self._proc = None

    def __enter__(self) -> LocalNginx:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
