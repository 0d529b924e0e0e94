"""Inspection records in Redis: stored once per id, indexed by receipt and by certificate, logged in order.

All keys of one province share a hash tag (verify_api/keyspace.py), so one script stores a record, its
two index entries and its log entry atomically: a retried upload finds the record and changes nothing,
whichever of two concurrent requests comes first. With AOF `appendfsync always` an acknowledged record
is on disk. Photos are files (photos.py); the record keeps the photo's reference.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from keys.answer import SignatureResult, State

from .. import keyspace
from ..privacy import mask_name, scrub
from ..store.publishing import flat, iso
from ..store.transport import Op, Script, StorePart
from .record import Flag, Inspection

_STORE = Script("""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4]) end
redis.call('XADD', KEYS[4], '*', 'id', ARGV[1])
return 1
""")

# Division codes begin with one of these province codes; the purge walks each province's keys.
PROVINCES = tuple(f"{n:02d}" for n in range(10, 100))


def province_of(region: str) -> str:
    return region[:2]


@dataclass(frozen=True)
class Inspector:
    token_id: str
    name: str
    region: str


@dataclass(frozen=True)
class Found:
    """What the service found for the code at receipt."""

    registration_no: str
    version: int | None
    issuer: str
    state: State
    signature: SignatureResult


@dataclass(frozen=True)
class StoredInspection:
    record: Inspection
    flags: tuple[Flag, ...]
    received_at: datetime
    inspector: Inspector
    found: Found
    photo: str  # the photo's reference, "" when none was sent

    def to_json(self, personal_data: bool = False) -> dict[str, Any]:
        """The record without its photo, as supervisors' systems read it; people's names and numbers
        masked unless `personal_data`."""
        record = self.record.to_json()
        if not personal_data:
            record["note"] = scrub(record["note"])
        found = self.found
        return {**record, "has_photo": bool(self.photo), "flags": [f.value for f in self.flags],
                "received_at": iso(self.received_at),
                "inspector": {"token_id": self.inspector.token_id, "region": self.inspector.region,
                              "name": self.inspector.name if personal_data else mask_name(self.inspector.name)},
                "found": {"registration_no": found.registration_no, "version": found.version, "issuer": found.issuer,
                          "state": found.state.value, "signature": found.signature.value}}

    def sighting_member(self) -> str:
        """The record in its certificate's index: id and position, so `two_sites` reads no record."""
        location = self.record.location
        return self.record.id if location is None else f"{self.record.id} {location.lat!r} {location.lon!r}"

    def fields(self) -> dict[str, Any]:
        f = self.found
        return {"json": json.dumps(self.record.to_json(), ensure_ascii=False),
                "flags": ",".join(flag.value for flag in self.flags), "received_at": iso(self.received_at),
                "inspector": self.inspector.token_id, "name": self.inspector.name, "region": self.inspector.region,
                "r": f.registration_no, "v": "" if f.version is None else f.version, "issuer": f.issuer,
                "state": f.state.value, "signature": f.signature.value, "photo": self.photo}

    @classmethod
    def from_fields(cls, data: dict[str, str]) -> StoredInspection:
        return cls(Inspection.from_stored(data["json"]),
                   tuple(Flag(code) for code in data["flags"].split(",") if code),
                   datetime.fromisoformat(data["received_at"]),
                   Inspector(data["inspector"], data["name"], data["region"]),
                   Found(data["r"], int(data["v"]) if data["v"] else None, data["issuer"], State(data["state"]),
                         SignatureResult(data["signature"])),
                   data["photo"])


@dataclass(frozen=True)
class Sighting:
    """Where and when a certificate was checked: what `two_sites` compares."""

    inspection_id: str
    checked_at: datetime
    lat: float | None
    lon: float | None


class InspectionStore(StorePart):
    def store_op(self, item: StoredInspection) -> Op:
        """The write that stores a record once: its reply is 1 when stored, 0 when the id was already there."""
        province = province_of(item.inspector.region)
        rid = item.record.id
        registration_no = item.found.registration_no
        keys = [keyspace.inspection(province, rid), keyspace.inspections_received(province),
                keyspace.inspections_of(province, registration_no or "-"), keyspace.inspection_log(province)]
        return Op.call(_STORE, keys, [rid, _score(item.received_at), _score(item.record.checked_at),
                                      item.sighting_member() if registration_no else "", *flat(item.fields())])

    def store(self, items: list[StoredInspection]) -> list[bool]:
        """Store records in one round trip per master; True for each that was new."""
        return [reply == 1 for reply in self.transport.write([self.store_op(i) for i in items])] if items else []

    def get(self, province: str, inspection_id: str) -> StoredInspection | None:
        data = self.transport.read(lambda r: r.hgetall(keyspace.inspection(province, inspection_id.lower())))
        return StoredInspection.from_fields(data) if data else None

    def many(self, province: str, ids: Iterable[str]) -> list[StoredInspection]:
        """The records with these ids, in one round trip; ids not stored are left out."""
        ids = list(ids)
        if not ids:
            return []

        def read(r: Any) -> list[dict[str, str]]:
            pipe = r.pipeline(transaction=False)
            for rid in ids:
                pipe.hgetall(keyspace.inspection(province, rid))
            return pipe.execute()
        return [StoredInspection.from_fields(d) for d in self.transport.read(read) if d]

    def received(self, province: str, start: datetime | None = None, end: datetime | None = None,
                 limit: int = 5000) -> list[StoredInspection]:
        """The province's records received in [start, end), newest first, at most `limit`."""
        high = "(" + str(_score(end)) if end else "+inf"
        low = str(_score(start)) if start else "-inf"
        ids = self.transport.read(lambda r: r.zrevrangebyscore(keyspace.inspections_received(province), high, low,
                                                               start=0, num=limit))
        return self.many(province, ids)

    def of_certificate(self, province: str, registration_no: str, limit: int = 1000) -> list[StoredInspection]:
        """One certificate's inspections in the province, the latest check first."""
        members = self.transport.read(lambda r: r.zrevrange(keyspace.inspections_of(province, registration_no), 0,
                                                            limit - 1))
        return self.many(province, (m.split(" ", 1)[0] for m in members))

    def sightings(self, province: str, wanted: list[tuple[str, datetime]], window: timedelta,
                  most: int = 50) -> list[list[Sighting]]:
        """For each (registration number, moment): up to `most` checks of it within `window` of the moment,
        with where they were made, in one round trip for any number of questions (the certificate's index
        holds each check's time as its score and its position beside its id)."""
        if not wanted:
            return []

        def read(r: Any) -> list[list[tuple[str, float]]]:
            pipe = r.pipeline(transaction=False)
            for registration_no, around in wanted:
                pipe.zrangebyscore(keyspace.inspections_of(province, registration_no), _score(around - window),
                                   _score(around + window), start=0, num=most, withscores=True)
            return pipe.execute()
        out: list[list[Sighting]] = []
        for pairs in self.transport.read(read):
            out.append([])
            for member, score in pairs:
                rid, _, place = member.partition(" ")
                lat, _, lon = place.partition(" ")
                out[-1].append(Sighting(rid, datetime.fromtimestamp(score / 1000, UTC), float(lat) if lat else None,
                                        float(lon) if lon else None))
        return out

    def log(self, province: str, after: str, count: int) -> tuple[list[StoredInspection], str, bool]:
        """Records after a cursor in order of receipt: (records, next cursor, more)."""
        start = "(" + after if after not in ("0", "") else "-"
        rows = self.transport.read(lambda r: r.xrange(keyspace.inspection_log(province), start, "+", count=count))
        if not rows:
            return [], after, False
        return self.many(province, (f["id"] for _, f in rows)), rows[-1][0], len(rows) == count

    def purge(self, before: datetime) -> tuple[int, list[str]]:
        """Delete the records received before `before` in every province: (how many, their photos' refs)."""
        removed, photos = 0, []
        for province in PROVINCES:
            received = keyspace.inspections_received(province)
            ids: list[str] = self.transport.read(partial(_older_than, key=received, score=_score(before)))
            for start in range(0, len(ids), 500):
                chunk = self.many(province, ids[start:start + 500])
                photos += [i.photo for i in chunk if i.photo]
                ops = [Op.command("DEL", keyspace.inspection(province, i.record.id)) for i in chunk]
                ops += [Op.command("ZREM", keyspace.inspections_of(province, i.found.registration_no or "-"),
                                   i.sighting_member()) for i in chunk]
                ops += [Op.command("ZREM", received, *ids[start:start + 500])]
                self.transport.write(ops)
            removed += len(ids)
            if ids:
                self.transport.write([Op.command("XTRIM", keyspace.inspection_log(province), "MINID",
                                                 _score(before))])
        return removed, photos


def _older_than(r: Any, key: str, score: int) -> list[str]:
    return list(r.zrangebyscore(key, "-inf", f"({score}"))


def _score(moment: datetime) -> int:
    """Milliseconds since the epoch: a sorted-set score and a stream id's first part alike."""
    return int(moment.astimezone(UTC).timestamp() * 1000)
