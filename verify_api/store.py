"""The registry on Redis: certificates, their status history, the status feed, the audit log, tokens.

Each registration's changes are one Lua script on the keys of its own hash slot, so a check and its
write are atomic and the code runs unchanged on Redis Cluster. The feed and the audit log are appended
after the change commits; a version remembers that it was published, and a retried request repairs a
publication that a crash cut off. A write is acknowledged only when all of it is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import redis
from redis.cluster import ClusterNode, RedisCluster

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
    latest: int

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


# KEYS: certificate, version, history. ARGV: version, issuer, record_no, paper, payload_sha, fields (JSON), event.
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
local fields = cjson.decode(ARGV[6])
for k, v in pairs(fields) do redis.call('HSET', KEYS[2], k, v) end
redis.call('HSET', KEYS[2], 'payload_sha', ARGV[5])
redis.call('HSET', KEYS[1], 'latest', ARGV[1], 'issuer', ARGV[2], 'record_no', ARGV[3], 'paper', ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[7])
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


def connect(url: str, timeout: float = 1.0) -> redis.Redis | RedisCluster:
    """A client for `redis://`, `unix://` or `redis+cluster://h1:p1,h2:p2` (Flask-Limiter's scheme)."""
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "decode_responses": True}
    if url.startswith("redis+cluster://"):
        nodes = [ClusterNode(*hostport.rsplit(":", 1)) for hostport in url.split("://", 1)[1].strip("/").split(",")]
        return RedisCluster(startup_nodes=nodes, **options)
    return redis.Redis.from_url(url, health_check_interval=5, **options)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def payload_sha(qr_text: str | None, record: dict[str, Any]) -> str:
    """What makes two registrations 'the same': the signed payload, or for paper the record itself."""
    if qr_text:
        material = qr_text.rsplit("/", 1)[-1].encode("ascii")
    else:
        material = json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(material).hexdigest()


class Store:
    """The registry's storage, behind a small interface with a health check."""

    def __init__(self, url: str, timeout: float = 1.0, replicas: int = 0):
        self.url = url
        self.client = connect(url, timeout)
        self.replicas = replicas
        self._register = self.client.register_script(_REGISTER)
        self._status = self.client.register_script(_STATUS)
        self._correct = self.client.register_script(_CORRECT)

    # --- health ---------------------------------------------------------------------------------------

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterError) as exc:
            raise StoreUnavailable(f"registry store unavailable: {exc}") from None
        except redis.ResponseError as exc:
            if "NOSCRIPT" in str(exc) or "LOADING" in str(exc) or "CLUSTERDOWN" in str(exc):
                raise StoreUnavailable(f"registry store not ready: {exc}") from None
            raise

    def _durable(self, key: str) -> None:
        """With replicas configured, a write counts only once that many replicas have it."""
        if not self.replicas:
            return
        if isinstance(self.client, RedisCluster):
            node = self.client.get_node_from_key(key)
            acked = self.client.execute_command("WAIT", self.replicas, 2000, target_nodes=node)
        else:
            acked = self.client.wait(self.replicas, 2000)
        if acked < self.replicas:
            raise StoreUnavailable(f"write reached {acked} of {self.replicas} replicas")

    # --- reads ----------------------------------------------------------------------------------------

    def get(self, registration_no: str, version: int | None = None) -> StoredVersion | None:
        def read() -> StoredVersion | None:
            if version is None:
                meta = self.client.hgetall(keyspace.certificate(registration_no))
                data = meta and self.client.hgetall(keyspace.version(registration_no, int(meta["latest"])))
            else:  # one round trip when the version is known, as it is for every scanned payload
                pipe = self.client.pipeline(transaction=False)
                pipe.hgetall(keyspace.certificate(registration_no))
                pipe.hgetall(keyspace.version(registration_no, version))
                meta, data = pipe.execute()
            if not meta or not data:
                return None
            number = version or int(meta["latest"])
            return StoredVersion(
                registration_no=registration_no, version=number, issuer=meta["issuer"],
                record_json=data["record"], qr_text=data.get("qr_text") or None, state=State(data["state"]),
                reason=data.get("reason", ""), since=datetime.fromisoformat(data["since"]),
                registered_at=datetime.fromisoformat(data["registered_at"]),
                superseded_by=int(data["superseded_by"]) if data.get("superseded_by") else None,
                latest=int(meta["latest"]),
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
        return [e for e in entries if issuer is None or e.actor.split(":")[1:2] == [issuer]]

    # --- writes ---------------------------------------------------------------------------------------

    def register(self, record: dict[str, Any], qr_text: str | None, actor: str, now: datetime,
                 state: State | None = None) -> Change:
        registration_no, number = record["registration_no"], int(record.get("version", 1))
        paper = bool(record.get("paper"))
        state = state or (State.PAPER_LEGACY if paper else State.VALID)
        sha = payload_sha(qr_text, record)
        since = record.get("issued_on", "")
        fields = {"record": json.dumps(record, ensure_ascii=False, sort_keys=True), "qr_text": qr_text or "",
                  "state": state.value, "reason": "", "since": _since(since, now), "registered_at": _iso(now),
                  "published": "0", "superseded_by": ""}
        event = {"at": _iso(now), "actor": actor, "action": "register", "version": number, "after": state.value}
        reply = self._call(lambda: self._register(
            keys=[keyspace.certificate(registration_no), keyspace.version(registration_no, number),
                  keyspace.history(registration_no)],
            args=[number, record["issuer"]["code"], record["equipment"]["record_no"], "1" if paper else "0", sha,
                  json.dumps(fields, ensure_ascii=False), json.dumps(event, ensure_ascii=False)]))
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
        reply = self._call(lambda: self._status(
            keys=[keyspace.certificate(registration_no), keyspace.history(registration_no)],
            args=[target.value, allowed, issuer or "", reason, _iso(since or now),
                  json.dumps(event, ensure_ascii=False)]))
        outcome = Outcome(reply[0])
        if outcome is Outcome.CHANGED:
            before, number, after = State(reply[1]), int(reply[2]), State(reply[3])
            self._publish(registration_no, number, actor, action, {"state": before.value},
                          {"state": after.value, "reason": reason}, now)
            return Change(outcome, number, before, after)
        if outcome is Outcome.REFUSED:
            return Change(outcome, int(reply[2]), State(reply[1]), None,
                          f"cannot change a {reply[1]} certificate to {target.value}")
        return Change(outcome, detail=reply[1])

    def correct(self, record: dict[str, Any], qr_text: str | None, reason: str, actor: str, now: datetime,
                issuer: str) -> Change:
        registration_no, number = record["registration_no"], int(record["version"])
        paper = bool(record.get("paper"))
        state = State.PAPER_LEGACY if paper else State.VALID
        fields = {"record": json.dumps(record, ensure_ascii=False, sort_keys=True), "qr_text": qr_text or "",
                  "state": state.value, "reason": "", "since": _iso(now), "registered_at": _iso(now),
                  "published": "0", "superseded_by": ""}
        event = {"at": _iso(now), "actor": actor, "action": "correction", "version": number, "reason": reason}
        reply = self._call(lambda: self._correct(
            keys=[keyspace.certificate(registration_no), keyspace.version(registration_no, number),
                  keyspace.history(registration_no)],
            args=[number - 1, number, issuer, payload_sha(qr_text, record), json.dumps(fields, ensure_ascii=False),
                  reason, _iso(now), json.dumps(event, ensure_ascii=False)]))
        if reply[0] != "changed":
            return Change(Outcome(reply[0]), detail=reply[1])
        before = State(reply[1])
        self._publish(registration_no, number - 1, actor, "correction", {"state": before.value, "version": number - 1},
                      {"state": State.SUPERSEDED.value, "superseded_by": number, "reason": reason}, now)
        self._publish(registration_no, number, actor, "correction", None, {"state": state.value, "version": number},
                      now, licence_id=record.get("licence_id"))
        return Change(Outcome.CREATED, number, before, state)

    def _publish(self, registration_no: str, number: int, actor: str, action: str, before: Any, after: Any,
                 now: datetime, licence_id: str | None = None) -> None:
        """Feed entry and audit entry for a committed change, then mark the version published."""
        current = self.get(registration_no, number)
        assert current is not None  # noqa: S101 - just committed
        if licence_id:
            self._call(lambda: self.client.set(keyspace.licence(licence_id), f"{registration_no}|{number}"))
        self._call(lambda: self.client.xadd(keyspace.feed(), {
            "r": registration_no, "v": number, "s": current.state.value, "reason": current.reason,
            "since": _iso(current.since), "by": current.superseded_by or "",
            "rec": current.record.get("equipment", {}).get("record_no", ""), "reg": _iso(current.registered_at)}))
        self._call(lambda: self.client.xadd(keyspace.audit(), {
            "actor": actor, "action": action, "r": registration_no, "at": _iso(now),
            "before": json.dumps(before, ensure_ascii=False), "after": json.dumps(after, ensure_ascii=False)}))
        self._call(lambda: self.client.hset(keyspace.version(registration_no, number), "published", "1"))
        self._durable(keyspace.version(registration_no, number))
        self._durable(keyspace.feed())
        self._durable(keyspace.audit())

    def record_denied(self, actor: str, action: str, registration_no: str, now: datetime, why: str) -> None:
        """Refused attempts are audited too: an issuer reaching for another's certificate is worth knowing."""
        self._call(lambda: self.client.xadd(keyspace.audit(), {
            "actor": actor, "action": action + ":denied", "r": registration_no, "at": _iso(now),
            "before": "null", "after": json.dumps({"denied": why}, ensure_ascii=False)}))

    # --- bulk import ----------------------------------------------------------------------------------

    def register_many(self, items: Iterable[tuple[dict[str, Any], str | None]], actor: str, now: datetime,
                      batch: int = 500) -> Iterator[Change]:
        """Register in pipelined batches; yields one Change per item, in order."""
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
        pipe = self.client.pipeline(transaction=False)
        states = []
        for record, qr_text in chunk:
            registration_no, number = record["registration_no"], int(record.get("version", 1))
            paper = bool(record.get("paper"))
            state = State.PAPER_LEGACY if paper else State.VALID
            states.append(state)
            fields = {"record": json.dumps(record, ensure_ascii=False, sort_keys=True), "qr_text": qr_text or "",
                      "state": state.value, "reason": "", "since": _since(record.get("issued_on", ""), now),
                      "registered_at": _iso(now), "published": "1", "superseded_by": ""}
            event = {"at": _iso(now), "actor": actor, "action": "import", "version": number, "after": state.value}
            self._register(keys=[keyspace.certificate(registration_no), keyspace.version(registration_no, number),
                                 keyspace.history(registration_no)],
                           args=[number, record["issuer"]["code"], record["equipment"]["record_no"],
                                 "1" if paper else "0", payload_sha(qr_text, record),
                                 json.dumps(fields, ensure_ascii=False), json.dumps(event, ensure_ascii=False)],
                           client=pipe)
        replies = self._call(lambda: pipe.execute(raise_on_error=False))
        publish = self.client.pipeline(transaction=False)
        changes = []
        for (record, _), state, reply in zip(chunk, states, replies, strict=True):
            if isinstance(reply, Exception):
                raise StoreUnavailable(f"registry store refused a write: {reply}")
            outcome = Outcome(reply[0])
            number = int(record.get("version", 1))
            changes.append(Change(outcome, number, None, state if outcome is Outcome.CREATED else None,
                                  reply[1] if outcome not in (Outcome.UNCHANGED, Outcome.CREATED) else ""))
            if outcome is Outcome.CREATED:
                registration_no = record["registration_no"]
                if record.get("licence_id"):
                    publish.set(keyspace.licence(record["licence_id"]), f"{registration_no}|{number}")
                publish.xadd(keyspace.feed(), {
                    "r": registration_no, "v": number, "s": state.value, "reason": "",
                    "since": _since(record.get("issued_on", ""), now), "by": "",
                    "rec": record["equipment"]["record_no"], "reg": _iso(now)})
                publish.xadd(keyspace.audit(), {
                    "actor": actor, "action": "import", "r": registration_no, "at": _iso(now), "before": "null",
                    "after": json.dumps({"state": state.value, "version": number})})
        self._call(lambda: publish.execute())
        self._durable(keyspace.feed())
        return changes

    # --- tokens ---------------------------------------------------------------------------------------

    def create_token(self, issuer: str, now: datetime, note: str = "") -> tuple[str, str]:
        """A new bearer token for an issuer: (token_id, token). Only the SHA-256 of its secret is stored."""
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        self._call(lambda: self.client.hset(keyspace.token(token_id), mapping={
            "issuer": issuer, "sha256": _sha256(secret), "created_at": _iso(now), "note": note, "revoked": ""}))
        self._call(lambda: self.client.xadd(keyspace.audit(), {
            "actor": "operator", "action": "token:create", "r": "", "at": _iso(now), "before": "null",
            "after": json.dumps({"token_id": token_id, "issuer": issuer})}))
        return token_id, f"crv_{token_id}_{secret}"

    def revoke_token(self, token_id: str, now: datetime) -> bool:
        key = keyspace.token(token_id)
        if not self._call(lambda: self.client.exists(key)):
            return False
        self._call(lambda: self.client.hset(key, "revoked", _iso(now)))
        self._call(lambda: self.client.xadd(keyspace.audit(), {
            "actor": "operator", "action": "token:revoke", "r": "", "at": _iso(now), "before": "null",
            "after": json.dumps({"token_id": token_id})}))
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


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _since(issued_on: str, now: datetime) -> str:
    """A certificate is valid since its issue date (midnight, China time); else since it was registered."""
    if issued_on:
        return f"{issued_on}T00:00:00+08:00"
    return _iso(now)
