"""The registry on Redis: certificates, their status history, the status feed, the audit log, tokens.

Each registration's changes are one Lua script on the keys of its own hash slot, so a check and its
write are atomic and the code runs unchanged on Redis Cluster. The feed and the audit log are appended
after the change commits; a version remembers that it was published, and a retried request repairs a
publication that a crash cut off. A write is acknowledged only when all of it is stored.

Writes go to the master that serves each key, one pipeline (so one connection) per master, and with
`replicas=N` every pipeline ends in `WAIT N`: a change is acknowledged only once N replicas have it, so
a failover that promotes one of them loses no acknowledged change. WAIT counts the writes made on its
own connection, which is why it shares the pipeline with them and is never sent on its own. A write
that meets a dead master, a slot that moved, or too few replicas raises StoreUnavailable; the caller
retries, and every write is safe to retry: a repeated registration is `unchanged`, a repeated status
change or correction is refused as made already, and each of them publishes what the first attempt could
not (a repeated publication at worst repeats a feed entry). Reads go through redis-py's client, which
follows MOVED replies and refreshes its slot map after a failover.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import (
    AskError,
    ClusterDownError,
    NoScriptError,
    RedisClusterException,
    TryAgainError,
)

from keys.answer import State
from keys.errors import CraneError

from . import keyspace

T = TypeVar("T")


class StoreUnavailable(CraneError):
    """Redis cannot be reached or did not answer in time."""


class Outcome(StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"      # the same payload again: one record
    CONFLICT = "conflict"        # another payload for the same number and version
    CHANGED = "changed"
    REFUSED = "refused"          # the transition is not allowed from the current state
    FORBIDDEN = "forbidden"      # the registration belongs to another issuer
    NOT_FOUND = "not_found"


# Transitions an issuer may make, by target state: ended is final, valid only from suspended,
# superseded only through a correction (not here).
ALLOWED_FROM: dict[State, tuple[State, ...]] = {
    State.SUSPENDED: (State.VALID, State.PAPER_LEGACY),
    State.REVOKED: (State.VALID, State.SUSPENDED, State.PAPER_LEGACY),
    State.VALID: (State.SUSPENDED,),
    State.ENDED: (State.VALID, State.SUSPENDED, State.PAPER_LEGACY, State.REVOKED),
}
CORRECTABLE = (State.VALID, State.SUSPENDED, State.PAPER_LEGACY)


@dataclass(frozen=True)
class StoredVersion:
    registration_no: str
    version: int
    issuer: str
    record_json: str
    qr_text: str | None
    state: State
    reason: str
    since: datetime
    registered_at: datetime
    superseded_by: int | None
    latest: int | None  # the newest version, when read by number alone

    @property
    def record(self) -> dict[str, Any]:
        return json.loads(self.record_json)


@dataclass(frozen=True)
class Change:
    outcome: Outcome
    version: int | None = None
    before: State | None = None
    after: State | None = None
    detail: str = ""


@dataclass(frozen=True)
class FeedEntry:
    cursor: str
    registration_no: str
    version: int
    state: State
    reason: str
    since: str
    superseded_by: int | None
    record_no: str
    registered_at: str

    def to_json(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "registration_no": self.registration_no, "version": self.version,
                "state": self.state.value, "reason": self.reason, "since": self.since,
                "superseded_by": self.superseded_by, "record_no": self.record_no,
                "registered_at": self.registered_at}


@dataclass(frozen=True)
class AuditEntry:
    id: str
    actor: str
    action: str
    registration_no: str
    at: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "actor": self.actor, "action": self.action, "registration_no": self.registration_no,
                "at": self.at, "before": self.before, "after": self.after}


# KEYS: certificate, version, history. ARGV: version, issuer, record_no, paper, payload_sha, event, then the
# version's fields as name, value, name, value, ... (one HSET; no JSON to decode on the server).
_REGISTER = """
local existing = redis.call('HGET', KEYS[2], 'payload_sha')
if existing then
  if existing == ARGV[5] then return {'unchanged', redis.call('HGET', KEYS[2], 'published') or ''} end
  return {'conflict', 'another payload is registered for this number and version'}
end
local owner = redis.call('HGET', KEYS[1], 'issuer')
if owner and owner ~= ARGV[2] then return {'forbidden', owner} end
local latest = redis.call('HGET', KEYS[1], 'latest')
if latest then return {'conflict', 'version ' .. latest .. ' is registered; a new version is made by a correction'} end
redis.call('HSET', KEYS[2], 'payload_sha', ARGV[5], unpack(ARGV, 7))
redis.call('HSET', KEYS[1], 'latest', ARGV[1], 'issuer', ARGV[2], 'record_no', ARGV[3], 'paper', ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[6])
return {'created', ''}
"""

# KEYS: certificate, history. ARGV: target, allowed (comma list), issuer ('' = operator), reason, since, event.
_STATUS = """
local latest = redis.call('HGET', KEYS[1], 'latest')
if not latest then return {'not_found', ''} end
local owner = redis.call('HGET', KEYS[1], 'issuer')
if ARGV[3] ~= '' and owner ~= ARGV[3] then return {'forbidden', owner} end
local vkey = KEYS[1] .. ':v' .. latest
local before = redis.call('HGET', vkey, 'state')
local target = ARGV[1]
if target == 'valid' and redis.call('HGET', KEYS[1], 'paper') == '1' then target = 'paper_legacy' end
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == before then allowed = true end end
if not allowed then return {'refused', before, latest} end
redis.call('HSET', vkey, 'state', target, 'reason', ARGV[4], 'since', ARGV[5], 'published', '0')
local event = cjson.decode(ARGV[6])
event['before'] = before
event['after'] = target
redis.call('RPUSH', KEYS[2], cjson.encode(event))
return {'changed', before, latest, target}
"""

# KEYS: certificate, new version, history. ARGV: old version, new version, issuer, payload_sha, fields, reason,
# since, event.
_CORRECT = """
local latest = redis.call('HGET', KEYS[1], 'latest')
if not latest then return {'not_found', ''} end
local owner = redis.call('HGET', KEYS[1], 'issuer')
if owner ~= ARGV[3] then return {'forbidden', owner} end
if latest ~= ARGV[1] then return {'conflict', 'the latest version is ' .. latest} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'conflict', 'version ' .. ARGV[2] .. ' exists'} end
local okey = KEYS[1] .. ':v' .. latest
local before = redis.call('HGET', okey, 'state')
if before ~= 'valid' and before ~= 'suspended' and before ~= 'paper_legacy' then return {'refused', before} end
local fields = cjson.decode(ARGV[5])
for k, v in pairs(fields) do redis.call('HSET', KEYS[2], k, v) end
redis.call('HSET', KEYS[2], 'payload_sha', ARGV[4])
redis.call('HSET', okey, 'state', 'superseded', 'reason', ARGV[6], 'since', ARGV[7], 'superseded_by', ARGV[2],
           'published', '0')
redis.call('HSET', KEYS[1], 'latest', ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[8])
return {'changed', before}
"""


# KEYS: version. Marks a version published, unless it is not there (lost with a master that died before a
# replica had it): then the caller learns that its change was not acknowledged.
_MARK_PUBLISHED = """
if redis.call('HEXISTS', KEYS[1], 'payload_sha') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'published', '1')
return 1
"""


@dataclass(frozen=True)
class _Script:
    source: str

    @property
    def sha(self) -> str:
        return hashlib.sha1(self.source.encode("utf-8"), usedforsecurity=False).hexdigest()


SCRIPTS = {name: _Script(source) for name, source in
           (("register", _REGISTER), ("status", _STATUS), ("correct", _CORRECT), ("mark", _MARK_PUBLISHED))}


@dataclass(frozen=True)
class _Op:
    """One write command, run on the master that serves `key`'s slot."""

    key: str
    args: tuple[Any, ...]
    script: _Script | None = None

    @classmethod
    def call(cls, script: _Script, keys: Sequence[str], args: Sequence[Any]) -> _Op:
        """EVALSHA; every key shares the first one's hash tag, so the script touches one slot."""
        return cls(keys[0], ("EVALSHA", script.sha, len(keys), *keys, *args), script)


# Replies that mean "not run here, nothing changed": run the command again once the slot map is fresh.
_NOT_RUN = (AskError, TryAgainError, ClusterDownError)  # MovedError is an AskError
_WRITE_ATTEMPTS = 4
_UNAVAILABLE_REPLIES = ("LOADING", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS")


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


def connect(url: str, timeout: float = 1.0) -> redis.Redis | RedisCluster:
    """A client for `redis://`, `unix://` or `redis+cluster://h1:p1,h2:p2` (Flask-Limiter's scheme).

    A cluster client asks a startup node for the slot map at once, so it fails here if none answers.
    """
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "decode_responses": True}
    if is_cluster_url(url):
        nodes, auth = cluster_nodes(url)
        return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in nodes], **auth, **options)
    return redis.Redis.from_url(url, health_check_interval=5, **options)


def is_cluster_url(url: str) -> bool:
    return url.startswith("redis+cluster://")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def payload_of(qr_text: str) -> str:
    """The signed payload of a QR text, whatever host and path prefix it was printed with."""
    return qr_text.strip().rsplit("/", 1)[-1]


def payload_sha(qr_text: str | None, record: dict[str, Any]) -> str:
    """What makes two registrations 'the same': the signed payload, or for paper the record itself."""
    if qr_text:
        material = payload_of(qr_text).encode("ascii")
    else:
        material = json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(material).hexdigest()


class Store:
    """The registry's storage, behind a small interface with a health check.

    `url` is `redis://`, `unix://` or `redis+cluster://h1:p1,h2:p2`. With `replicas=N` (the service's
    CRANE_REDIS_REPLICAS) a write is acknowledged only once N replicas of its master have it; `wait_ms` is
    how long to wait for them (default: half the socket timeout, so the wait ends before the socket's).
    """

    def __init__(self, url: str, timeout: float = 1.0, replicas: int = 0, wait_ms: int | None = None):
        self.url = url
        self.timeout = timeout
        self.replicas = replicas
        self.wait_ms = wait_ms if wait_ms is not None else max(10, int(timeout * 500))
        self.cluster = is_cluster_url(url)
        self._client: redis.Redis | RedisCluster | None = None
        self._client_lock = threading.Lock()
        self._scripts_on: set[str] = set()  # nodes known to hold the scripts

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

    # --- health ---------------------------------------------------------------------------------------

    def ping(self) -> bool:
        try:
            if isinstance(self.client, RedisCluster):
                # any node: while one shard fails over, the others still answer and so does the service
                return bool(self.client.ping(target_nodes=RedisCluster.RANDOM))
            return bool(self.client.ping())
        except (redis.RedisError, RedisClusterException, StoreUnavailable):
            return False

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterError,
                RedisClusterException) as exc:
            raise StoreUnavailable(f"registry store unavailable: {exc}") from None
        except redis.ResponseError as exc:
            if isinstance(exc, NoScriptError) or str(exc).startswith(_UNAVAILABLE_REPLIES):
                raise StoreUnavailable(f"registry store not ready: {exc}") from None
            raise

    # --- writes: one pipeline per master, WAIT on the same connection ---------------------------------

    def _write(self, ops: Sequence[_Op]) -> list[Any]:
        """Run `ops` on the masters serving their keys and return their replies, in order.

        Commands on one key run in the order given. Raises StoreUnavailable when a master cannot be
        reached, when fewer than `replicas` replicas acknowledged, or when slots keep moving.
        """
        results: list[Any] = [None] * len(ops)
        pending = list(range(len(ops)))
        for attempt in range(_WRITE_ATTEMPTS):
            again: list[int] = []
            stale = False
            for name, node, indices in self._masters_for(ops, pending):
                replies = self._pipeline(name, node, [ops[i] for i in indices])
                for i, reply in zip(indices, replies, strict=True):
                    if isinstance(reply, NoScriptError):  # the node restarted and lost its script cache
                        self._scripts_on.discard(name)
                        again.append(i)
                    elif isinstance(reply, _NOT_RUN):
                        stale = True
                        again.append(i)
                    elif isinstance(reply, redis.ResponseError):
                        self._call(_raiser(reply))
                    else:
                        results[i] = reply
            if not again:
                return results
            if stale:
                self._refresh_slots()
                time.sleep(0.05 * attempt)
            pending = sorted(again)
        raise StoreUnavailable("registry store unavailable: slots kept moving during a write")

    def _masters_for(self, ops: Sequence[_Op], indices: list[int]) -> list[tuple[str, redis.Redis, list[int]]]:
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

    def _pipeline(self, name: str, node: redis.Redis, ops: list[_Op]) -> list[Any]:
        """One round trip on one connection: the commands, then WAIT; returns the commands' replies."""
        try:
            if name not in self._scripts_on and any(op.script for op in ops):
                for script in SCRIPTS.values():
                    node.script_load(script.source)
                self._scripts_on.add(name)
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
            self._call(_raiser(exc))
            raise
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

    # --- reads ----------------------------------------------------------------------------------------

    def get(self, registration_no: str, version: int | None = None) -> StoredVersion | None:
        def read() -> StoredVersion | None:
            latest = None
            if version is None:
                meta = self.client.hgetall(keyspace.certificate(registration_no))
                if not meta:
                    return None
                latest = int(meta["latest"])
            # A scanned payload names its version: one key, one round trip, on the hot path.
            data = self.client.hgetall(keyspace.version(registration_no, version or latest))
            if not data or "record" not in data:
                return None
            return StoredVersion(
                registration_no=registration_no, version=version or latest, issuer=data["issuer"],
                record_json=data["record"], qr_text=data.get("qr_text") or None, state=State(data["state"]),
                reason=data.get("reason", ""), since=datetime.fromisoformat(data["since"]),
                registered_at=datetime.fromisoformat(data["registered_at"]),
                superseded_by=int(data["superseded_by"]) if data.get("superseded_by") else None,
                latest=latest,
            )
        return self._call(read)

    def by_licence(self, licence_id: str) -> tuple[str, int] | None:
        value = self._call(lambda: self.client.get(keyspace.licence(licence_id)))
        if not value:
            return None
        registration_no, _, number = value.rpartition("|")
        return registration_no, int(number)

    def history(self, registration_no: str) -> list[dict[str, Any]]:
        return [json.loads(e) for e in self._call(lambda: self.client.lrange(keyspace.history(registration_no), 0, -1))]

    def feed(self, after: str = "0", count: int = 500) -> list[FeedEntry]:
        start = "(" + after if after not in ("0", "0-0", "") else "-"
        rows = self._call(lambda: self.client.xrange(keyspace.feed(), start, "+", count=count))
        return [FeedEntry(cursor=i, registration_no=f["r"], version=int(f["v"]), state=State(f["s"]),
                          reason=f.get("reason", ""), since=f["since"],
                          superseded_by=int(f["by"]) if f.get("by") else None, record_no=f.get("rec", ""),
                          registered_at=f.get("reg", ""))
                for i, f in rows]

    def audit(self, after: str = "0", count: int = 500, issuer: str | None = None) -> list[AuditEntry]:
        start = "(" + after if after not in ("0", "0-0", "") else "-"
        rows = self._call(lambda: self.client.xrange(keyspace.audit(), start, "+", count=count))
        entries = [AuditEntry(i, f["actor"], f["action"], f["r"], f["at"], json.loads(f["before"]),
                              json.loads(f["after"])) for i, f in rows]
        return [e for e in entries if issuer is None or e.actor.split(":")[1:2] == [issuer]
                or (isinstance(e.after, dict) and e.after.get("owner") == issuer)]

    # --- writes ---------------------------------------------------------------------------------------

    def register(self, record: dict[str, Any], qr_text: str | None, actor: str, now: datetime,
                 state: State | None = None) -> Change:
        registration_no, number = record["registration_no"], int(record.get("version", 1))
        paper = bool(record.get("paper"))
        state = state or (State.PAPER_LEGACY if paper else State.VALID)
        sha = payload_sha(qr_text, record)
        fields = _version_fields(record, qr_text, state, _since(record.get("issued_on", ""), now), now)
        event = {"at": _iso(now), "actor": actor, "action": "register", "version": number, "after": state.value}
        reply = self._write([_register_op(registration_no, number, record, paper, sha, fields, event)])[0]
        outcome, detail = Outcome(reply[0]), reply[1]
        if outcome is Outcome.CREATED or (outcome is Outcome.UNCHANGED and detail != "1"):
            self._publish(registration_no, number, actor, "register", None, {"state": state.value, "version": number},
                          now, licence_id=record.get("licence_id"))
        return Change(outcome, number, None, state if outcome is Outcome.CREATED else None,
                      detail if outcome is not Outcome.UNCHANGED else "")

    def change_status(self, registration_no: str, target: State, reason: str, actor: str, now: datetime,
                      issuer: str | None, since: datetime | None = None, action: str = "status") -> Change:
        allowed = ",".join(s.value for s in ALLOWED_FROM[target])
        event = {"at": _iso(now), "actor": actor, "action": action, "reason": reason}
        reply = self._write([_Op.call(
            SCRIPTS["status"], [keyspace.certificate(registration_no), keyspace.history(registration_no)],
            [target.value, allowed, issuer or "", reason, _iso(since or now), json.dumps(event, ensure_ascii=False)],
        )])[0]
        outcome = Outcome(reply[0])
        if outcome is Outcome.CHANGED:
            before, number, after = State(reply[1]), int(reply[2]), State(reply[3])
            self._publish(registration_no, number, actor, action, {"state": before.value},
                          {"state": after.value, "reason": reason}, now)
            return Change(outcome, number, before, after)
        if outcome is Outcome.REFUSED:
            self._repair(registration_no)  # a retry of a change whose publication was cut off
            return Change(outcome, int(reply[2]), State(reply[1]), None,
                          f"cannot change a {reply[1]} certificate to {target.value}")
        return Change(outcome, detail=reply[1])

    def correct(self, record: dict[str, Any], qr_text: str | None, reason: str, actor: str, now: datetime,
                issuer: str) -> Change:
        registration_no, number = record["registration_no"], int(record["version"])
        paper = bool(record.get("paper"))
        state = State.PAPER_LEGACY if paper else State.VALID
        fields = _version_fields(record, qr_text, state, _iso(now), now)
        event = {"at": _iso(now), "actor": actor, "action": "correction", "version": number, "reason": reason}
        reply = self._write([_Op.call(
            SCRIPTS["correct"],
            [keyspace.certificate(registration_no), keyspace.version(registration_no, number),
             keyspace.history(registration_no)],
            [number - 1, number, issuer, payload_sha(qr_text, record), json.dumps(fields, ensure_ascii=False),
             reason, _iso(now), json.dumps(event, ensure_ascii=False)],
        )])[0]
        if reply[0] != "changed":
            if reply[0] in ("conflict", "refused"):
                self._repair(registration_no)  # a retry of a correction whose publication was cut off
            return Change(Outcome(reply[0]), detail=reply[1])
        before = State(reply[1])
        self._publish(registration_no, number - 1, actor, "correction", {"state": before.value, "version": number - 1},
                      {"state": State.SUPERSEDED.value, "superseded_by": number, "reason": reason}, now)
        self._publish(registration_no, number, actor, "correction", None, {"state": state.value, "version": number},
                      now, licence_id=record.get("licence_id"))
        return Change(Outcome.CREATED, number, before, state)

    def _publish(self, registration_no: str, number: int, actor: str, action: str, before: Any, after: Any,
                 now: datetime, licence_id: str | None = None) -> None:
        """Feed entry and audit entry for a committed change, then mark the version published.

        Two steps, each acknowledged by the replicas: the mark comes only after the entries are stored, so
        a crash between them leaves the version unpublished, and the retried request publishes it again.
        """
        current = self.get(registration_no, number)
        if current is None:  # the change was lost with a master before a replica had it
            raise StoreUnavailable(f"registry store lost {registration_no} v{number}; retry the request")
        ops = [_Op(keyspace.licence(licence_id), ("SET", keyspace.licence(licence_id), f"{registration_no}|{number}"))
               ] if licence_id else []
        ops.append(_Op(keyspace.feed(), ("XADD", keyspace.feed(), "*", *_flat(_feed_fields(current)))))
        ops.append(_Op(keyspace.audit(), ("XADD", keyspace.audit(), "*", *_flat(_audit_fields(
            actor, action, registration_no, now, before, after)))))
        self._write(ops)
        if not self._write([_mark_op(registration_no, number)])[0]:
            raise StoreUnavailable(f"registry store lost {registration_no} v{number}; retry the request")

    def _repair(self, registration_no: str) -> None:
        """Publish the registration's last change if its publication was cut off (a crash, a failover).

        The change itself is in the history list, written by the same script as the change; the feed and
        audit entries come after it, and a version's `published` flag says whether they were written.
        """
        meta = self._call(lambda: self.client.hgetall(keyspace.certificate(registration_no)))
        if not meta:
            return
        latest = int(meta["latest"])
        flags = {n: self._call(lambda n=n: self.client.hget(keyspace.version(registration_no, n), "published"))
                 for n in range(max(1, latest - 1), latest + 1)}
        if flags.get(latest) != "0" and flags.get(latest - 1) != "0":
            return
        last = self._call(lambda: self.client.lrange(keyspace.history(registration_no), -1, -1))
        if not last:
            return
        event = json.loads(last[0])
        at = datetime.fromisoformat(event["at"])
        actor, action = event.get("actor", "operator"), event.get("action", "status")
        if action == "correction":
            if flags.get(latest - 1) == "0":
                self._publish(registration_no, latest - 1, actor, action, {"version": latest - 1},
                              {"state": State.SUPERSEDED.value, "superseded_by": latest,
                               "reason": event.get("reason", "")}, at)
            current = self.get(registration_no, latest)
            if flags.get(latest) == "0" and current is not None:
                self._publish(registration_no, latest, actor, action, None,
                              {"state": current.state.value, "version": latest}, at,
                              licence_id=_licence_of(current))
        elif flags.get(latest) == "0":
            before = {"state": event["before"]} if "before" in event else None
            after = {"state": event.get("after", ""), "reason": event.get("reason", "")} if before else \
                {"state": event.get("after", ""), "version": latest}
            self._publish(registration_no, latest, actor, action, before, after, at,
                          licence_id=None if before else _licence_of(self.get(registration_no, latest)))

    def record_denied(self, actor: str, action: str, registration_no: str, now: datetime, why: str,
                      owner: str) -> None:
        """Refused attempts are audited too, where both the one who tried and the owner can read them."""
        self._write([_Op(keyspace.audit(), ("XADD", keyspace.audit(), "*", *_flat(_audit_fields(
            actor, action + ":denied", registration_no, now, None, {"denied": why, "owner": owner}))))])

    # --- bulk import ----------------------------------------------------------------------------------

    def register_many(self, items: Iterable[tuple[dict[str, Any], str | None]], actor: str, now: datetime,
                      batch: int = 500) -> Iterator[Change]:
        """Register in pipelined batches; yields one Change per item, in order.

        Per batch: the registration scripts (one pipeline per master), then the feed and audit entries of
        the new ones, then their published marks; each step acknowledged by the replicas when configured.
        An import cut off anywhere is repaired by importing the same file again.
        """
        chunk: list[tuple[dict[str, Any], str | None]] = []
        for item in items:
            chunk.append(item)
            if len(chunk) >= batch:
                yield from self._register_batch(chunk, actor, now)
                chunk = []
        if chunk:
            yield from self._register_batch(chunk, actor, now)

    def _register_batch(self, chunk: list[tuple[dict[str, Any], str | None]], actor: str,
                        now: datetime) -> list[Change]:
        ops, states = [], []
        for record, qr_text in chunk:
            registration_no, number = record["registration_no"], int(record.get("version", 1))
            paper = bool(record.get("paper"))
            state = State.PAPER_LEGACY if paper else State.VALID
            states.append(state)
            fields = _version_fields(record, qr_text, state, _since(record.get("issued_on", ""), now), now)
            event = {"at": _iso(now), "actor": actor, "action": "import", "version": number, "after": state.value}
            ops.append(_register_op(registration_no, number, record, paper, payload_sha(qr_text, record), fields,
                                    event))
        replies = self._write(ops)
        publish: list[_Op] = []
        marks: list[_Op] = []
        repair: list[tuple[str, int, State, str | None]] = []
        changes = []
        for (record, _), state, reply in zip(chunk, states, replies, strict=True):
            outcome = Outcome(reply[0])
            registration_no, number = record["registration_no"], int(record.get("version", 1))
            changes.append(Change(outcome, number, None, state if outcome is Outcome.CREATED else None,
                                  reply[1] if outcome not in (Outcome.UNCHANGED, Outcome.CREATED) else ""))
            if outcome is Outcome.UNCHANGED and reply[1] != "1":
                repair.append((registration_no, number, state, record.get("licence_id")))
            if outcome is not Outcome.CREATED:
                continue
            if record.get("licence_id"):
                key = keyspace.licence(record["licence_id"])
                publish.append(_Op(key, ("SET", key, f"{registration_no}|{number}")))
            publish.append(_Op(keyspace.feed(), ("XADD", keyspace.feed(), "*", *_flat({
                "r": registration_no, "v": number, "s": state.value, "reason": "",
                "since": _since(record.get("issued_on", ""), now), "by": "",
                "rec": record["equipment"]["record_no"], "reg": _iso(now)}))))
            publish.append(_Op(keyspace.audit(), ("XADD", keyspace.audit(), "*", *_flat(_audit_fields(
                actor, "import", registration_no, now, None, {"state": state.value, "version": number})))))
            marks.append(_mark_op(registration_no, number))
        if publish:
            self._write(publish)
            if not all(self._write(marks)):
                raise StoreUnavailable("registry store lost part of an import batch; import the file again")
        for registration_no, number, state, licence_id in repair:  # a publication an earlier import did not finish
            self._publish(registration_no, number, actor, "import", None, {"state": state.value, "version": number},
                          now, licence_id=licence_id)
        return changes

    # --- tokens ---------------------------------------------------------------------------------------

    def create_token(self, issuer: str, now: datetime, note: str = "") -> tuple[str, str]:
        """A new bearer token for an issuer: (token_id, token). Only the SHA-256 of its secret is stored."""
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = keyspace.token(token_id)
        self._write([_Op(key, ("HSET", key, *_flat({"issuer": issuer, "sha256": _sha256(secret),
                                                     "created_at": _iso(now), "note": note, "revoked": ""})))])
        self._write([_Op(keyspace.audit(), ("XADD", keyspace.audit(), "*", *_flat(_audit_fields(
            "operator", "token:create", "", now, None, {"token_id": token_id, "issuer": issuer}))))])
        return token_id, f"crv_{token_id}_{secret}"

    def revoke_token(self, token_id: str, now: datetime) -> bool:
        key = keyspace.token(token_id)
        if not self._call(lambda: self.client.exists(key)):
            return False
        self._write([_Op(key, ("HSET", key, "revoked", _iso(now)))])
        self._write([_Op(keyspace.audit(), ("XADD", keyspace.audit(), "*", *_flat(_audit_fields(
            "operator", "token:revoke", "", now, None, {"token_id": token_id}))))])
        return True

    def check_token(self, token: str) -> tuple[str, str] | None:
        """(token_id, issuer) for a live token, else None. The secret is compared in constant time."""
        parts = token.split("_", 2) if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] != "crv" or len(parts[1]) != 12 or len(parts[2]) > 100:
            _sha256("x" * 43)  # keep the refusal's cost close to a real check's
            return None
        data = self._call(lambda: self.client.hgetall(keyspace.token(parts[1])))
        expected = data.get("sha256", "0" * 64)
        matches = hmac.compare_digest(expected, _sha256(parts[2]))
        if not data or not matches or data.get("revoked"):
            return None
        return parts[1], data["issuer"]


def _register_op(registration_no: str, number: int, record: dict[str, Any], paper: bool, sha: str,
                 fields: dict[str, str], event: dict[str, Any]) -> _Op:
    return _Op.call(
        SCRIPTS["register"],
        [keyspace.certificate(registration_no), keyspace.version(registration_no, number),
         keyspace.history(registration_no)],
        [number, record["issuer"]["code"], record["equipment"]["record_no"], "1" if paper else "0", sha,
         json.dumps(event, ensure_ascii=False), *_flat(fields)])


def _licence_of(stored: StoredVersion | None) -> str | None:
    return stored.record.get("licence_id") if stored else None


def _mark_op(registration_no: str, number: int) -> _Op:
    return _Op.call(SCRIPTS["mark"], [keyspace.version(registration_no, number)], [])


def _feed_fields(current: StoredVersion) -> dict[str, Any]:
    return {"r": current.registration_no, "v": current.version, "s": current.state.value, "reason": current.reason,
            "since": _iso(current.since), "by": current.superseded_by or "",
            "rec": current.record.get("equipment", {}).get("record_no", ""), "reg": _iso(current.registered_at)}


def _audit_fields(actor: str, action: str, registration_no: str, now: datetime, before: Any,
                  after: Any) -> dict[str, Any]:
    return {"actor": actor, "action": action, "r": registration_no, "at": _iso(now),
            "before": json.dumps(before, ensure_ascii=False), "after": json.dumps(after, ensure_ascii=False)}


def _flat(fields: dict[str, Any]) -> list[Any]:
    return [part for pair in fields.items() for part in pair]


def _raiser(exc: Exception) -> Callable[[], Any]:
    def fn() -> Any:
        raise exc
    return fn


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _version_fields(record: dict[str, Any], qr_text: str | None, state: State, since: str,
                    now: datetime) -> dict[str, str]:
    """A version's hash: everything an answer needs, so a scan reads one key in one round trip."""
    return {"record": json.dumps(record, ensure_ascii=False, sort_keys=True), "qr_text": qr_text or "",
            "issuer": record["issuer"]["code"], "state": state.value, "reason": "", "since": since,
            "registered_at": _iso(now), "published": "0", "superseded_by": ""}


def _since(issued_on: str, now: datetime) -> str:
    """A certificate is valid since its issue date (midnight, China time); else since it was registered."""
    if issued_on:
        return f"{issued_on}T00:00:00+08:00"
    return _iso(now)
