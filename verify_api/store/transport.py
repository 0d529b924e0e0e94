"""Connections to Redis or Redis Cluster, and the write path every change of the store takes.

Writes go to the master that serves each key, one pipeline (so one connection) per master, and with
`replicas=N` every pipeline ends in `WAIT N`: a change is acknowledged only once N replicas have it, so
a failover that promotes one of them loses no acknowledged change. WAIT counts the writes made on its
own connection, which is why it shares the pipeline with them and is never sent on its own. A write
that meets a dead master, a slot that moved, or too few replicas raises StoreUnavailable; the caller
retries (every write of the store is safe to retry, see registry.py). Reads go through redis-py's
client, which follows MOVED replies and refreshes its slot map after a failover.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import AskError, ClusterDownError, NoScriptError, RedisClusterException, TryAgainError

from .results import StoreUnavailable

T = TypeVar("T")

# Replies that mean "not run here, nothing changed": run the command again once the slot map is fresh.
_NOT_RUN = (AskError, TryAgainError, ClusterDownError)  # MovedError is an AskError
_WRITE_ATTEMPTS = 4
_UNAVAILABLE_REPLIES = ("LOADING", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS")


@dataclass(frozen=True)
class Script:
    """A Lua script, run by EVALSHA and loaded on a node the first time that node needs it."""

    source: str

    @cached_property
    def sha(self) -> str:
        return hashlib.sha1(self.source.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Op:
    """One write command, run on the master that serves `key`'s slot."""

    key: str
    args: tuple[Any, ...]
    script: Script | None = None

    @classmethod
    def command(cls, name: str, key: str, *args: Any) -> Op:
        """A single-key command whose first argument is its key (SET, HSET, XADD)."""
        return cls(key, (name, key, *args))

    @classmethod
    def call(cls, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Op:
        """EVALSHA; every key shares the first one's hash tag, so the script touches one slot."""
        return cls(keys[0], ("EVALSHA", script.sha, len(keys), *keys, *args), script)


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], dict[str, str]]:
    """Hosts and ports of `redis+cluster://[user:password@]h1:p1,h2:p2`, and the credentials if any."""
    rest = url.split("://", 1)[1].split("?", 1)[0].strip("/")
    auth: dict[str, str] = {}
    if "@" in rest:
        userinfo, rest = rest.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        auth = {k: v for k, v in (("username", user), ("password", password)) if v}
    nodes = []
    for hostport in rest.split(","):
        host, _, port = hostport.strip().rpartition(":")
        if not host:
            host, port = port, "6379"
        nodes.append((host.strip("[]"), int(port)))
    return nodes, auth


def is_cluster_url(url: str) -> bool:
    return url.startswith("redis+cluster://")


def connect(url: str, timeout: float = 1.0) -> redis.Redis | RedisCluster:
    """A client for `redis://`, `unix://` or `redis+cluster://h1:p1,h2:p2` (Flask-Limiter's scheme).

    A cluster client asks a startup node for the slot map at once, so it fails here if none answers.
    """
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout,
                               "decode_responses": True}
    if is_cluster_url(url):
        nodes, auth = cluster_nodes(url)
        return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in nodes],
                            username=auth.get("username"), password=auth.get("password"), **options)
    return redis.Redis.from_url(url, health_check_interval=5, **options)


def _as_unavailable(exc: Exception) -> Exception:
    """What a caller sees for a Redis failure: StoreUnavailable when a retry can succeed, else the error."""
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | redis.exceptions.ClusterError
                  | RedisClusterException):
        return StoreUnavailable(f"registry store unavailable: {exc}")
    if isinstance(exc, NoScriptError) or (isinstance(exc, redis.ResponseError)
                                          and str(exc).startswith(_UNAVAILABLE_REPLIES)):
        return StoreUnavailable(f"registry store not ready: {exc}")
    return exc


class Transport:
    """The client, reads with Redis errors turned into StoreUnavailable, and acknowledged writes.

    `url` is `redis://`, `unix://` or `redis+cluster://h1:p1,h2:p2`. With `replicas=N` a write is
    acknowledged only once N replicas of its master have it; `wait_ms` is how long to wait for them
    (default: half the socket timeout, so the wait ends before the socket's).
    """

    def __init__(self, url: str, timeout: float = 1.0, replicas: int = 0, wait_ms: int | None = None):
        self.url = url
        self.timeout = timeout
        self.replicas = replicas
        self.wait_ms = wait_ms if wait_ms is not None else max(10, int(timeout * 500))
        self._client: redis.Redis | RedisCluster | None = None
        self._client_lock = threading.Lock()
        self._scripts_on: dict[str, set[str]] = {}  # node name -> SHAs of the scripts it is known to hold
        self.after_write: Callable[[], None] | None = None  # told when a write returns or fails, whether it ran or not

    @property
    def client(self) -> redis.Redis | RedisCluster:
        """The redis-py client; for a cluster it is made on first use, so a service starts while it is down."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    try:
                        self._client = connect(self.url, self.timeout)
                    except (redis.RedisError, RedisClusterException) as exc:
                        raise StoreUnavailable(f"registry store unavailable: {exc}") from None
        return self._client

    def ping(self) -> bool:
        try:
            if isinstance(self.client, RedisCluster):
                # any node: while one shard fails over, the others still answer and so does the service
                return bool(self.client.ping(target_nodes=RedisCluster.RANDOM))
            return bool(self.client.ping())
        except (redis.RedisError, RedisClusterException, StoreUnavailable):
            return False

    def read(self, fn: Callable[[Any], T]) -> T:
        """`fn(client)`, with a Redis failure a retry can mend raised as StoreUnavailable."""
        try:
            return fn(self.client)
        except (redis.RedisError, RedisClusterException) as exc:
            raise _as_unavailable(exc) from None

    # --- writes: one pipeline per master, WAIT on the same connection ---------------------------------

    def write(self, ops: Sequence[Op]) -> list[Any]:
        """Run `ops` on the masters serving their keys and return their replies, in order.

        Commands on one key run in the order given. Raises StoreUnavailable when a master cannot be
        reached, when fewer than `replicas` replicas acknowledged, or when slots keep moving.
        """
        try:
            return self._write(ops)
        finally:
            if self.after_write is not None:
                self.after_write()

    def _write(self, ops: Sequence[Op]) -> list[Any]:
        results: list[Any] = [None] * len(ops)
        pending = list(range(len(ops)))
        for attempt in range(_WRITE_ATTEMPTS):
            again: list[int] = []
            stale = False
            for name, node, indices in self._masters_for(ops, pending):
                replies = self._pipeline(name, node, [ops[i] for i in indices])
                for i, reply in zip(indices, replies, strict=True):
                    if isinstance(reply, NoScriptError):  # the node restarted and lost its script cache
                        self._scripts_on.pop(name, None)
                        again.append(i)
                    elif isinstance(reply, _NOT_RUN):
                        stale = True
                        again.append(i)
                    elif isinstance(reply, redis.ResponseError):
                        raise _as_unavailable(reply) from None
                    else:
                        results[i] = reply
            if not again:
                return results
            if stale:
                self._refresh_slots()
                time.sleep(0.05 * attempt)
            pending = sorted(again)
        raise StoreUnavailable("registry store unavailable: slots kept moving during a write")

    def _masters_for(self, ops: Sequence[Op], indices: list[int]) -> list[tuple[str, redis.Redis, list[int]]]:
        client = self.client
        if not isinstance(client, RedisCluster):
            return [("single", client, indices)]
        groups: dict[str, tuple[str, redis.Redis, list[int]]] = {}
        for i in indices:
            try:
                node = client.get_node_from_key(ops[i].key)
            except (RedisClusterException, redis.RedisError) as exc:
                self._refresh_slots()
                raise StoreUnavailable(f"registry store unavailable: {exc}") from None
            if node.name not in groups:
                groups[node.name] = (node.name, client.get_redis_connection(node), [])
            groups[node.name][2].append(i)
        return list(groups.values())

    def _pipeline(self, name: str, node: redis.Redis, ops: list[Op]) -> list[Any]:
        """One round trip on one connection: the commands, then WAIT; returns the commands' replies."""
        try:
            loaded = self._scripts_on.setdefault(name, set())
            for script in {op.script for op in ops if op.script is not None and op.script.sha not in loaded}:
                node.script_load(script.source)
                loaded.add(script.sha)
            pipe = node.pipeline(transaction=False)
            for op in ops:
                pipe.execute_command(*op.args)
            if self.replicas:
                pipe.execute_command("WAIT", self.replicas, self.wait_ms)
            replies = pipe.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # the master is gone or hangs: whether the commands ran is unknown; the caller retries
            self._refresh_slots()
            raise StoreUnavailable(f"registry store unavailable: {exc}") from None
        except redis.ResponseError as exc:
            raise _as_unavailable(exc) from None
        if self.replicas:
            acked = replies.pop()
            if isinstance(acked, Exception) or int(acked) < self.replicas:
                self._refresh_slots()
                raise StoreUnavailable(f"write not acknowledged: {acked} of {self.replicas} replicas have it")
        return replies

    def _refresh_slots(self) -> None:
        """After a failover: ask the cluster again who serves what (redis-py does this too, on its errors)."""
        client = self._client
        if isinstance(client, RedisCluster):
            with contextlib.suppress(redis.RedisError, RedisClusterException):
                client.nodes_manager.initialize()


class StorePart:
    """One job of the store (registry, publishing, tokens) over the transport all of them share."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
