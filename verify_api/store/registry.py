"""Registrations: read them, register, change a status, correct, import in bulk.

Each change is one script on the keys of its registration's slot (scripts.py). The feed and the audit
entries are appended after the change commits; a version remembers that it was published, and a retried
request repairs a publication that a crash cut off. Every write is safe to retry: a repeated
registration is `unchanged`, a repeated status change or correction is refused as made already, and each
of them publishes what the first attempt could not (a repeated publication at worst repeats a feed entry).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from keys.answer import STATE_LABELS, State
from keys.record import Record

from .. import keyspace
from . import scripts
from .publishing import audit_ops, feed_op, flat, iso
from .results import Change, Outcome, StoredVersion, StoreUnavailable
from .status_cache import StatusCache, nodes_of
from .transport import Op, StorePart, Transport

Item = tuple[Record, str | None]  # a record and its QR text (None for paper)


def payload_of(qr_text: str) -> str:
    """The signed payload of a QR text, whatever host and path prefix it was printed with."""
    return qr_text.strip().rsplit("/", 1)[-1]


def record_json(record: Record) -> str:
    """A record as the store keeps it: its JSON, keys sorted, so the same record is the same text."""
    return json.dumps(record.to_json(), ensure_ascii=False, sort_keys=True)


def payload_sha(qr_text: str | None, stored_record: str) -> str:
    """What makes two registrations 'the same': the signed payload, or for paper the stored record itself."""
    material = payload_of(qr_text).encode("ascii") if qr_text else stored_record.encode("utf-8")
    return hashlib.sha256(material).hexdigest()


class Registry(StorePart):
    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self._fixed = _FixedParts()
        self._status: StatusCache[tuple[str, StoredVersion]] | None = None

    def track_status(self, bound_s: float) -> None:
        """Keep versions' status per process while Redis tracks them, never longer than `bound_s`."""
        self._status = StatusCache(lambda: nodes_of(self.transport.client)(), bound_s)
        self.transport.after_write = self._status.flush   # this process reads its own writes at once

    # --- reads ----------------------------------------------------------------------------------------

    def get(self, registration_no: str, version: int | None = None) -> StoredVersion | None:
        """A version; with no version, the latest one."""
        def read(client: Any) -> StoredVersion | None:
            number = version
            if number is None:
                meta = client.hgetall(keyspace.certificate(registration_no))
                if not meta:
                    return None
                number = int(meta["latest"])
            return _stored(registration_no, number, client.hgetall(keyspace.version(registration_no, number)))
        return self.transport.read(read)

    def get_version(self, registration_no: str, version: int) -> StoredVersion | None:
        """A version as a scan names it, in one round trip of a few short fields once this process has seen it.

        What a version holds besides its status is written once with it (scripts.py) and never changed, so
        it is kept per process and checked by its payload hash; only the status fields are read each time.
        """
        key = keyspace.version(registration_no, version)
        fixed = self._fixed.get(key)
        if fixed is None:
            data = self.transport.read(lambda r: r.hgetall(key))
            stored = _stored(registration_no, version, data)
            if stored is not None and data.get("payload_sha"):
                self._fixed.put(key, _Fixed(data["payload_sha"], stored))
            return stored
        status = self._status
        if status is not None:
            known = status.get(key)
            if known is not None and known[0] == fixed.sha:
                return known[1]
            token = status.token()
        sha, state, reason, since, superseded_by = self.transport.read(lambda r: r.hmget(key, _STATUS_FIELDS))
        if sha != fixed.sha:   # gone, or (never by this service) written anew: read it whole again
            self._fixed.drop(key)
            return self.get(registration_no, version) if sha else None
        stored = replace(fixed.stored, state=State(state), reason=reason or "", since=datetime.fromisoformat(since),
                         superseded_by=int(superseded_by) if superseded_by else None)
        if status is not None:
            status.put(key, token, (sha, stored))
        return stored

    def by_licence(self, licence_id: str) -> tuple[str, int] | None:
        value = self.transport.read(lambda r: r.get(keyspace.licence(licence_id)))
        if not value:
            return None
        registration_no, _, number = value.rpartition("|")
        return registration_no, int(number)

    def history(self, registration_no: str) -> list[dict[str, Any]]:
        events = self.transport.read(lambda r: r.lrange(keyspace.history(registration_no), 0, -1))
        return [json.loads(e) for e in events]

    # --- writes ---------------------------------------------------------------------------------------

    def register(self, record: Record, qr_text: str | None, actor: str, now: datetime) -> Change:
        registration_no, number = record.registration_no, record.version
        # The identifier is claimed first, by the script that decides: a read beforehand let two concurrent
        # registrations of different numbers with one identifier both through. Claiming again is a no-op.
        if record.licence_id and not self.transport.write([_licence_op(record.licence_id, registration_no, number)])[0]:
            return Change(Outcome.CONFLICT, detail=_licence_conflict(record))
        state = _first_state(record)
        event = {"at": iso(now), "actor": actor, "action": "register", "version": number, "after": state.value}
        reply = self.transport.write([_register_op(record, qr_text, state, now, event)])[0]
        outcome, detail = Outcome(reply[0]), reply[1]
        if outcome is Outcome.CREATED or (outcome is Outcome.UNCHANGED and detail != "1"):
            self._publish(registration_no, number, actor, "register", None, {"state": state.value, "version": number},
                          now, licence_id=record.licence_id)
        return Change(outcome, number, None, state if outcome is Outcome.CREATED else None,
                      detail if outcome is not Outcome.UNCHANGED else "")

    def change_status(self, registration_no: str, target: State, reason: str, actor: str, now: datetime,
                      issuer: str | None, since: datetime | None = None, action: str = "status",
                      notice_no: str = "") -> Change:
        """`issuer` None: the operator, who may change any issuer's certificate. `notice_no`: a dismantling
        notice's number, kept in the history and the audit."""
        event = {"at": iso(now), "actor": actor, "action": action, "reason": reason}
        if notice_no:
            event["notice_no"] = notice_no
        reply = self.transport.write([Op.call(
            scripts.STATUS, [keyspace.certificate(registration_no), keyspace.history(registration_no)],
            [target.value, scripts.states_arg(scripts.ALLOWED_FROM[target]), issuer or "", reason,
             iso(since or now), json.dumps(event, ensure_ascii=False)],
        )])[0]
        outcome = Outcome(reply[0])
        if outcome is Outcome.CHANGED:
            before, number, after = State(reply[1]), int(reply[2]), State(reply[3])
            self._publish(registration_no, number, actor, action, {"state": before.value},
                          {"state": after.value, "reason": reason, **({"notice_no": notice_no} if notice_no else {})},
                          now)
            return Change(outcome, number, before, after)
        if outcome is Outcome.REFUSED:
            self._repair(registration_no)  # a retry of a change whose publication was cut off
            return Change(outcome, int(reply[2]), State(reply[1]), None, refused_transition(State(reply[1]), target))
        return Change(outcome, detail=reply[1])

    def correct(self, record: Record, qr_text: str | None, reason: str, actor: str, now: datetime,
                issuer: str) -> Change:
        """Version N+1 is registered and N superseded in one atomic step."""
        registration_no, number = record.registration_no, record.version
        taken = self._licence_taken([record])[0]
        if taken:
            return Change(Outcome.CONFLICT, detail=taken)
        state = _first_state(record)
        fields = _version_fields(record, qr_text, state, iso(now), now)
        event = {"at": iso(now), "actor": actor, "action": "correction", "version": number, "reason": reason}
        reply = self.transport.write([Op.call(
            scripts.CORRECT,
            [keyspace.certificate(registration_no), keyspace.version(registration_no, number),
             keyspace.history(registration_no)],
            [number - 1, number, issuer, payload_sha(qr_text, fields["record"]), json.dumps(fields, ensure_ascii=False),
             reason, iso(now), json.dumps(event, ensure_ascii=False), scripts.states_arg(scripts.CORRECTABLE)],
        )])[0]
        if reply[0] == "unchanged":  # the same correction again: answered like a repeated registration
            if reply[1] != "1":
                self._repair(registration_no)  # a retry of a correction whose publication was cut off
            return Change(Outcome.UNCHANGED, number)
        if reply[0] != "changed":
            if reply[0] in ("conflict", "refused"):
                self._repair(registration_no)
            detail = reply[1]
            if reply[0] == "refused":
                detail = (f"不能更正{STATE_LABELS[State(detail)][0]}的证书，可更正的状态：{_zh_states(scripts.CORRECTABLE)} / "
                          f"a {detail} certificate cannot be corrected; correctable states: "
                          f"{scripts.states_arg(scripts.CORRECTABLE).replace(',', ', ')}")
            return Change(Outcome(reply[0]), detail=detail)
        before = State(reply[1])
        self._publish(registration_no, number - 1, actor, "correction", {"state": before.value, "version": number - 1},
                      {"state": State.SUPERSEDED.value, "superseded_by": number, "reason": reason}, now)
        self._publish(registration_no, number, actor, "correction", None, {"state": state.value, "version": number},
                      now, licence_id=record.licence_id)
        return Change(Outcome.CREATED, number, before, state)

    # --- bulk import ----------------------------------------------------------------------------------

    def register_many(self, items: Iterable[Item], actor: str, now: datetime, batch: int = 500) -> Iterator[Change]:
        """Register in pipelined batches; yields one Change per item, in order.

        Per batch: the registration scripts (one pipeline per master), then the feed and audit entries of
        the new ones, then their published marks; each step acknowledged by the replicas when configured.
        An import cut off anywhere is repaired by importing the same file again.
        """
        chunk: list[Item] = []
        for item in items:
            chunk.append(item)
            if len(chunk) >= batch:
                yield from self._register_batch(chunk, actor, now)
                chunk = []
        if chunk:
            yield from self._register_batch(chunk, actor, now)

    def _register_batch(self, chunk: list[Item], actor: str, now: datetime) -> list[Change]:
        states = [_first_state(record) for record, _ in chunk]
        taken = self._claim_licences([record for record, _ in chunk])
        written = iter(self.transport.write([
            _register_op(record, qr_text, state, now, {"at": iso(now), "actor": actor, "action": "import",
                                                       "version": record.version, "after": state.value})
            for (record, qr_text), state, why in zip(chunk, states, taken, strict=True) if not why]))
        # An identifier already naming another certificate refuses its line without running its script.
        replies = [["conflict", why] if why else next(written) for why in taken]
        publish: list[Op] = []
        marks: list[Op] = []
        repair: list[tuple[str, int, State, str | None]] = []
        changes = []
        for (record, _), state, reply in zip(chunk, states, replies, strict=True):
            outcome = Outcome(reply[0])
            registration_no, number = record.registration_no, record.version
            changes.append(Change(outcome, number, None, state if outcome is Outcome.CREATED else None,
                                  reply[1] if outcome not in (Outcome.UNCHANGED, Outcome.CREATED) else ""))
            if outcome is Outcome.UNCHANGED and reply[1] != "1":
                repair.append((registration_no, number, state, record.licence_id))
            if outcome is not Outcome.CREATED:
                continue
            if record.licence_id:
                publish.append(_licence_op(record.licence_id, registration_no, number))
            publish.append(feed_op(registration_no, number, state, "", _since(record), None,
                                   record.equipment.record_no, iso(now)))
            publish += audit_ops(actor, "import", registration_no, now, None, {"state": state.value, "version": number})
            marks.append(_mark_op(registration_no, number))
        if publish:
            self.transport.write(publish)
            if not all(self.transport.write(marks)):
                raise StoreUnavailable("registry store lost part of an import batch; import the file again")
        for registration_no, number, state, licence_id in repair:  # a publication an earlier import did not finish
            self._publish(registration_no, number, actor, "import", None, {"state": state.value, "version": number},
                          now, licence_id=licence_id)
        return changes

    def _claim_licences(self, records: list[Record]) -> list[str]:
        """Claim each record's e-licence identifier (CLAIM_LICENCE, one pipeline per master) and say why it
        cannot be its own ("" when it is): the identifier already names another registration. Never an
        overwrite: the index keeps its first registration."""
        claiming = [r for r in records if r.licence_id]
        replies = iter(self.transport.write([_licence_op(r.licence_id, r.registration_no, r.version)
                                             for r in claiming if r.licence_id]) if claiming else [])
        return ["" if not r.licence_id or next(replies) else _licence_conflict(r) for r in records]

    def _licence_taken(self, records: list[Record]) -> list[str]:
        """For each record, why its e-licence identifier cannot be its own ("" when it can), read before a
        correction, which may not claim an identifier for a version it has not made yet."""
        keys = [keyspace.licence(r.licence_id) if r.licence_id else None for r in records]
        wanted = [k for k in keys if k]
        if not wanted:
            return [""] * len(records)

        def read(client: Any) -> list[str | None]:
            pipe = client.pipeline(transaction=False)
            for key in wanted:
                pipe.get(key)
            return pipe.execute()

        owners = iter(self.transport.read(read))
        out = []
        for record, key in zip(records, keys, strict=True):
            owner = next(owners) if key else None
            out.append("" if owner is None or owner.rpartition("|")[0] == record.registration_no else
                       _licence_conflict(record))
        return out

    # --- publishing a committed change ----------------------------------------------------------------

    def _publish(self, registration_no: str, number: int, actor: str, action: str, before: Any, after: Any,
                 now: datetime, licence_id: str | None = None) -> None:
        """Feed entry and audit entries for a committed change, then mark the version published.

        Two steps, each acknowledged by the replicas: the mark comes only after the entries are stored, so
        a crash between them leaves the version unpublished, and the retried request publishes it again.
        """
        current = self.get(registration_no, number)
        if current is None:  # the change was lost with a master before a replica had it
            raise StoreUnavailable(f"registry store lost {registration_no} v{number}; retry the request")
        ops = [_licence_op(licence_id, registration_no, number)] if licence_id else []
        ops.append(feed_op(registration_no, number, current.state, current.reason, iso(current.since),
                           current.superseded_by, current.record.equipment.record_no,
                           iso(current.registered_at)))
        ops += audit_ops(actor, action, registration_no, now, before, after)
        self.transport.write(ops)
        if not self.transport.write([_mark_op(registration_no, number)])[0]:
            raise StoreUnavailable(f"registry store lost {registration_no} v{number}; retry the request")

    def _repair(self, registration_no: str) -> None:
        """Publish the registration's last change if its publication was cut off (a crash, a failover).

        The change itself is in the history list, written by the same script as the change; the feed and
        audit entries come after it, and a version's `published` flag says whether they were written.
        """
        meta = self.transport.read(lambda r: r.hgetall(keyspace.certificate(registration_no)))
        if not meta:
            return
        latest = int(meta["latest"])
        numbers = range(max(1, latest - 1), latest + 1)
        flags = dict(zip(numbers, self.transport.read(
            lambda r: [r.hget(keyspace.version(registration_no, n), "published") for n in numbers]), strict=True))
        if flags.get(latest) != "0" and flags.get(latest - 1) != "0":
            return
        last = self.transport.read(lambda r: r.lrange(keyspace.history(registration_no), -1, -1))
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
            after = {"state": event.get("after", ""), "reason": event.get("reason", ""),
                     **({"notice_no": event["notice_no"]} if "notice_no" in event else {})} if before else \
                {"state": event.get("after", ""), "version": latest}
            self._publish(registration_no, latest, actor, action, before, after, at,
                          licence_id=None if before else _licence_of(self.get(registration_no, latest)))


def _first_state(record: Record) -> State:
    """A new version is valid; a paper certificate, entered without a QR code, is valid as paper_legacy."""
    return State.PAPER_LEGACY if record.paper else State.VALID


def _register_op(record: Record, qr_text: str | None, state: State, now: datetime, event: dict[str, Any]) -> Op:
    registration_no, number = record.registration_no, record.version
    fields = _version_fields(record, qr_text, state, _since(record), now)
    return Op.call(
        scripts.REGISTER,
        [keyspace.certificate(registration_no), keyspace.version(registration_no, number),
         keyspace.history(registration_no)],
        [number, record.issuer.code, record.equipment.record_no, "1" if record.paper else "0",
         payload_sha(qr_text, fields["record"]), json.dumps(event, ensure_ascii=False),
         *flat(fields)])


def _licence_conflict(record: Record) -> str:
    return (f"电子证照标识 {record.licence_id} 已属于另一份证书 / the e-licence identifier {record.licence_id} "
            f"already names another certificate")


def _licence_op(licence_id: str, registration_no: str, number: int) -> Op:
    return Op.call(scripts.CLAIM_LICENCE, [keyspace.licence(licence_id)],
                   [f"{registration_no}|{number}", registration_no, number])


_STATUS_FIELDS = ("payload_sha", "state", "reason", "since", "superseded_by")


def _stored(registration_no: str, number: int, data: dict[str, str]) -> StoredVersion | None:
    if not data or "record" not in data:
        return None
    return StoredVersion(
        registration_no=registration_no, version=number, issuer=data["issuer"],
        record_json=data["record"], qr_text=data.get("qr_text") or None, state=State(data["state"]),
        reason=data.get("reason", ""), since=datetime.fromisoformat(data["since"]),
        registered_at=datetime.fromisoformat(data["registered_at"]),
        superseded_by=int(data["superseded_by"]) if data.get("superseded_by") else None)


class _Fixed(NamedTuple):
    sha: str
    stored: StoredVersion


class _FixedParts:
    """Versions' unchanging parts by key, the most recent `size` of them (a worker's threads share it)."""

    def __init__(self, size: int = 32_768):
        self.size = size
        self._entries: dict[str, _Fixed] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> _Fixed | None:
        return self._entries.get(key)

    def put(self, key: str, fixed: _Fixed) -> None:
        with self._lock:
            self._entries[key] = fixed
            if len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]

    def drop(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)



def refused_transition(before: State, target: State) -> str:
    """Why a status change is refused, naming what the current state may become (Chinese first)."""
    allowed = [t for t, sources in scripts.ALLOWED_FROM.items() if before in sources]
    zh_before, zh_target = STATE_LABELS[before][0], STATE_LABELS[target][0]
    if allowed:
        zh_next = f"{zh_before}的证书只能改为：{_zh_states(tuple(allowed))}"
        en_next = f"from {before.value} only to: {', '.join(t.value for t in allowed)}"
    else:
        zh_next, en_next = f"{zh_before}的证书不能再改变状态", f"{before.value} is final"
    article = "an" if before.value[0] in "aeiou" else "a"
    return (f"不能将{zh_before}的证书改为{zh_target}，{zh_next} / cannot change {article} {before.value} certificate "
            f"to {target.value}; {en_next}")


def _zh_states(states: tuple[State, ...]) -> str:
    return "、".join(STATE_LABELS[s][0] for s in states)


def _licence_of(stored: StoredVersion | None) -> str | None:
    return stored.record.licence_id if stored else None


def _mark_op(registration_no: str, number: int) -> Op:
    return Op.call(scripts.MARK_PUBLISHED, [keyspace.version(registration_no, number)], [])


def _version_fields(record: Record, qr_text: str | None, state: State, since: str, now: datetime) -> dict[str, str]:
    """A version's hash: everything an answer needs, so a scan reads one key in one round trip."""
    return {"record": record_json(record), "qr_text": qr_text or "",
            "issuer": record.issuer.code, "state": state.value, "reason": "", "since": since,
            "registered_at": iso(now), "published": "0", "superseded_by": ""}


def _since(record: Record) -> str:
    """A certificate is valid since its issue date (midnight, China time)."""
    return f"{record.issued_on.isoformat()}T00:00:00+08:00"
