"""Versions' status kept per process while Redis promises to say when it changes (CLIENT TRACKING).

A scan of a version this process has seen needs only its status. Reading it costs a Redis round trip; with
this cache it costs none, safely:

- Each master gets one invalidation connection of our own, outside redis-py's pool. It tracks, in
  broadcast mode, every key under the certificates' prefix and redirects the invalidations to itself
  (RESP2 pub/sub on `__redis__:invalidate`). The connections that read are not involved, so losing one
  of them ends nothing.
- The cache answers only while every master's invalidation connection is up and answered its last
  heartbeat. Losing one (end of file, an error, no answer to PING within `dead_after_s`) flushes
  everything and turns the cache off until it is back; so does a change in which nodes are masters.
- An entry is stored only if nothing was invalidated or flushed between the read being sent and the entry
  being stored (a token taken before the read), so a value read while an invalidation is in flight is
  never kept.
- An entry is used for at most `bound_s` seconds after its read was sent, a second guard: no answer is
  ever `valid` for a certificate revoked longer ago than that.
- A write through this process's own store flushes the cache when it returns, so a process reads its
  own writes at once; other processes read them as soon as the invalidation arrives (within
  milliseconds), at the latest after `bound_s`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import redis
from redis.cluster import RedisCluster
from redis.connection import AbstractConnection

from .. import keyspace

V = TypeVar("V")

CHANNEL = "__redis__:invalidate"
PREFIX = keyspace.certificate("")[:-1]   # "crane:{c:": every certificate's keys, its versions among them
HEARTBEAT_S = 0.2
_log = logging.getLogger("crane")
MAX_ENTRIES = 65_536


@dataclass(frozen=True)
class _Entry(Generic[V]):
    read_at: float
    value: V


class StatusCache(Generic[V]):
    """Values of keys under PREFIX as last read, while Redis's invalidations for them are being received.

    `nodes` gives the (host, port, connection options) of every master now; `bound_s` is the oldest an
    answer may be; `clock` is monotonic seconds (a parameter, so tests need not wait).
    """

    def __init__(self, nodes: Callable[[], list[Node]], bound_s: float = 1.0, dead_after_s: float = 0.6,
                 clock: Callable[[], float] = time.monotonic):
        self.bound_s, self.dead_after_s, self.clock = bound_s, dead_after_s, clock
        self._nodes = nodes
        self._entries: dict[str, _Entry[V]] = {}
        self._seq = 0            # bumped by every invalidation and flush: a read's token
        self._live = False       # every master's invalidation connection is up
        self._lock = threading.Lock()
        self._pid: int | None = None

    # --- reads ----------------------------------------------------------------------------------------

    def get(self, key: str) -> V | None:
        if self._pid != os.getpid():
            self._start()
        entry = self._entries.get(key)
        if entry is None or not self._live or self.clock() - entry.read_at > self.bound_s:
            return None
        return entry.value

    def token(self) -> tuple[int, float]:
        """Taken before a read is sent: what `put` needs to know whether the value read may be kept."""
        return self._seq, self.clock()

    def put(self, key: str, token: tuple[int, float], value: V) -> None:
        with self._lock:
            if not self._live or self._seq != token[0]:
                return   # something changed, or may have, since the read was sent
            self._entries[key] = _Entry(token[1], value)
            if len(self._entries) > MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]

    # --- what makes entries go --------------------------------------------------------------------------

    def invalidate(self, keys: list[str] | None) -> None:
        """Keys Redis says changed; None: all of them (FLUSHALL, or nothing can be known)."""
        with self._lock:
            self._seq += 1
            if keys is None:
                self._entries.clear()
            else:
                for key in keys:
                    self._entries.pop(key, None)

    def flush(self) -> None:
        self.invalidate(None)

    def _set_live(self, live: bool) -> None:
        with self._lock:
            self._seq += 1
            self._entries.clear()
            self._live = live

    @property
    def live(self) -> bool:
        return self._live

    # --- the invalidation connections -------------------------------------------------------------------

    def _start(self) -> None:
        """One watcher thread per process (a forked worker starts its own); it holds the cache weakly, so a
        cache nobody uses any more takes its thread and connections with it."""
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._live = False
            self._entries.clear()
        threading.Thread(target=_watch, args=(weakref.ref(self), self._nodes, self.dead_after_s),
                         name="crane-status-tracking", daemon=True).start()


@dataclass(frozen=True)
class Node:
    host: str | None
    port: int | None
    options: tuple[tuple[str, Any], ...]   # redis.Connection keyword arguments (path= for a unix socket)

    def connect(self) -> AbstractConnection:
        # never without a timeout: a read stuck on a silent server would stop the heartbeat
        options = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0, **dict(self.options)}
        if "path" in options:
            return redis.UnixDomainSocketConnection(protocol=2, decode_responses=True, **options)  # type: ignore[abstract]
        if self.host is not None:   # a cluster's node; a single server's address is in its options
            options.update(host=self.host, port=self.port)
        return redis.Connection(protocol=2, decode_responses=True, **options)


def nodes_of(client: redis.Redis | RedisCluster) -> Callable[[], list[Node]]:
    """The masters a client talks to now: itself, or the cluster's primaries as its slot map has them."""
    if isinstance(client, RedisCluster):
        def primaries() -> list[Node]:
            return [Node(n.host, n.port, _options(n.redis_connection.connection_pool))
                    for n in client.get_primaries() if n.redis_connection is not None]
        return primaries
    single = [Node(None, None, _options(client.connection_pool))]
    return lambda: single


def _options(pool: redis.ConnectionPool) -> tuple[tuple[str, Any], ...]:
    kept = ("host", "port", "path", "username", "password", "socket_timeout", "socket_connect_timeout", "db")
    return tuple(sorted((k, v) for k, v in pool.connection_kwargs.items() if k in kept and v is not None))


class _Lost(Exception):
    """An invalidation connection stopped answering, or said something it should not."""


def _watch(ref: weakref.ref[StatusCache[Any]], nodes: Callable[[], list[Node]], dead_after_s: float) -> None:
    """Keep one invalidation connection per master; the cache is live only while all of them are."""
    connections: dict[Node, _Tracking] = {}
    backoff = HEARTBEAT_S
    told = False   # the operator hears once per outage, not five times a second
    while (cache := ref()) is not None:
        try:
            wanted = set(nodes())
            if set(connections) != wanted or not wanted:
                cache._set_live(False)
                for tracking in connections.values():
                    tracking.close()
                connections = {node: _Tracking(node) for node in wanted}
                cache._set_live(bool(wanted))   # flushed above: nothing read before now is kept
            deadline = time.monotonic() + HEARTBEAT_S
            for tracking in connections.values():
                tracking.ping()
            while (left := deadline - time.monotonic()) > 0:
                ready = [t for t in connections.values() if t.buffered()] or \
                    [key.data for key, _ in selector(connections).select(left)]
                for tracking in ready:
                    for keys in tracking.invalidations():
                        cache.invalidate(keys)
            for tracking in connections.values():
                tracking.check(dead_after_s)
            backoff, told = HEARTBEAT_S, False
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the cache is off until the connections are back
            cache._set_live(False)
            if not told:
                _log.warning("status cache off until its invalidation connections are back: %s", exc)
                told = True
            for tracking in connections.values():
                tracking.close()
            connections = {}
            del cache
            time.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
            continue
        del cache
    for tracking in connections.values():
        tracking.close()


def selector(connections: dict[Node, _Tracking]) -> selectors.BaseSelector:
    chosen = selectors.DefaultSelector()
    for tracking in connections.values():
        chosen.register(tracking.socket, selectors.EVENT_READ, tracking)
    return chosen


class _Tracking:
    """One master's invalidation connection: broadcast tracking of PREFIX, redirected to itself."""

    def __init__(self, node: Node):
        self.connection = node.connect()
        self.connection.connect()
        self.connection.send_command("CLIENT", "ID")
        own_id = self.connection.read_response()
        self.connection.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", own_id, "BCAST", "PREFIX", PREFIX)
        if self.connection.read_response() != "OK":
            raise _Lost("CLIENT TRACKING refused")
        self.connection.send_command("SUBSCRIBE", CHANNEL)
        self.connection.read_response()
        self.answered = time.monotonic()

    def ping(self) -> None:
        self.connection.send_command("PING")

    @property
    def socket(self) -> Any:
        return self.connection._sock   # redis-py keeps it private; select() needs it

    def buffered(self) -> bool:
        return bool(self.connection.can_read(timeout=0))

    def invalidations(self) -> list[list[str] | None]:
        """What has arrived: lists of keys, or None for "everything"; notes answers to PING. Raises _Lost at
        end of file (a killed connection says nothing else over RESP2)."""
        found: list[list[str] | None] = []
        first = True
        while first or self.connection.can_read(timeout=0):
            first = False
            message = self.connection.read_response()
            if not isinstance(message, list) or not message:
                raise _Lost(f"unexpected reply on the invalidation connection: {message!r}")
            if message[0] == "pong":
                self.answered = time.monotonic()
            elif message[0] == "message" and message[1] == CHANNEL:
                payload = message[2]
                found.append(list(payload) if isinstance(payload, list) else None)
        return found

    def check(self, dead_after_s: float) -> None:
        if time.monotonic() - self.answered > dead_after_s:
            raise _Lost("the invalidation connection stopped answering PING")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.disconnect()
