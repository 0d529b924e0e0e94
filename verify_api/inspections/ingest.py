"""Receiving a batch of inspection records: each checked, re-verified, flagged and stored once.

A record that cannot be stored is refused with the field named and the others are kept. Ids already
stored by the same inspector (a retried batch) are answered `duplicate` with the flags they got the first
time, and cost no verification; an id another inspector's record already holds is `refused`, so the
device keeps its record and gives it a new id instead of taking it as sent. The store's script decides
between two concurrent requests with the same id.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from keys.trustlist import TrustList

from .. import metrics
from ..resolve import resolve
from ..store import Store, StoreUnavailable
from ..store.tokens import Principal
from . import findings
from .photos import MAX_PHOTO, PhotoError, Photos, check_jpeg
from .record import Flag, Inspection, InspectionError, parse, record_id
from .store import InspectionStore, Inspector, Sighting, StoredInspection, province_of

MAX_BATCH = 500
MAX_REQUEST = 20 * 1024 * 1024
ID_TAKEN = "id: 此编号已被其他记录使用，请换新编号重发 / id already used by another record: send it with a new id"
FUTURE_SKEW = timedelta(minutes=10)  # device clocks run fast; more than this is not a time we believe
_MAX_PHOTO_TEXT = (MAX_PHOTO + 2) // 3 * 4


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    REFUSED = "refused"


@dataclass(frozen=True)
class Result:
    id: str | None
    outcome: Outcome
    flags: tuple[Flag, ...] = ()
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "outcome": self.outcome.value,
                "flags": [{"code": f.value, "zh": f.zh, "en": f.en} for f in self.flags], "reason": self.reason}


class BatchError(ValueError):
    """The batch as a whole cannot be read: (status, code, message)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def records_of(body: dict[str, Any]) -> list[Any]:
    items = body.get("inspections")
    if not isinstance(items, list):
        raise BatchError(400, "bad_batch", '须提交 {"inspections": [...]} / send {"inspections": [...]}')
    if len(items) > MAX_BATCH:
        raise BatchError(413, "too_many_records", f"每批至多 {MAX_BATCH} 条记录，本批 {len(items)} 条 / at most "
                                                  f"{MAX_BATCH} records per batch, this one has {len(items)}")
    if not items:
        raise BatchError(400, "empty_batch", "批次中没有记录 / the batch holds no records")
    return items


@dataclass
class _Accepted:
    item: Inspection
    photo: bytes | None


def _accept(raw: Any, now: datetime, oldest: datetime) -> _Accepted:
    item = parse(raw)
    if item.checked_at > now + FUTURE_SKEW:
        raise InspectionError("checked_at: 晚于服务器当前时间，请校准设备时钟 / is in the future; check the device clock")
    if item.checked_at < oldest:
        raise InspectionError("checked_at: 早于记录保存期限 / is older than records are kept")
    photo = None
    if item.photo is not None:
        if len(item.photo) > _MAX_PHOTO_TEXT:
            raise InspectionError("photo: 照片超过 2 MB / photo larger than 2 MB")
        try:
            photo = check_jpeg(base64.b64decode(item.photo, validate=True))
        except (binascii.Error, ValueError) as exc:
            why = str(exc) if isinstance(exc, PhotoError) else "须为 base64 编码的 JPEG / must be a base64 JPEG"
            raise InspectionError(f"photo: {why}") from None
    return _Accepted(item, photo)


def ingest(raws: list[Any], inspector: Principal, now: datetime, trust: TrustList, store: Store,
           inspections: InspectionStore, photos: Photos, keep_records: timedelta) -> list[Result]:
    province = province_of(inspector.scope)
    results: list[Result | None] = [None] * len(raws)
    accepted: dict[int, _Accepted] = {}
    for n, raw in enumerate(raws):
        try:
            accepted[n] = _accept(raw, now, now - keep_records)
        except InspectionError as exc:
            results[n] = Result(record_id(raw), Outcome.REFUSED, reason=str(exc))
    # Ids this inspector stored before (a retry) or gave twice in this batch are duplicates, answered with
    # their flags; an id another inspector's record holds is refused (their record and flags are theirs).
    earlier = {i.record.id: i for i in inspections.many(province, dict.fromkeys(a.item.id for a in accepted.values()))}
    seen: set[str] = set()
    for n in list(accepted):
        rid = accepted[n].item.id
        before = earlier.get(rid)
        if before is not None and before.inspector.token_id != inspector.token_id:
            results[n] = Result(rid, Outcome.REFUSED, reason=ID_TAKEN)
            del accepted[n]
        elif before is not None or rid in seen:
            results[n] = Result(rid, Outcome.DUPLICATE, before.flags if before is not None else ())
            del accepted[n]
        seen.add(rid)
    by_text = {text: resolve(text, trust, store, now) for text in {a.item.qr for a in accepted.values()}}
    answers = {n: by_text[a.item.qr] for n, a in accepted.items()}
    if any(r.store_down for r in answers.values()):
        raise StoreUnavailable("registry unavailable while re-verifying")
    found = {n: findings.found_of(r.answer) for n, r in answers.items()}
    located = [n for n in accepted if found[n].registration_no and accepted[n].item.location]
    stored_sightings = dict(zip(located, inspections.sightings(
        province, [(found[n].registration_no, accepted[n].item.checked_at) for n in located],
        findings.TWO_SITES_WINDOW), strict=True))
    batch_sightings: dict[str, list[Sighting]] = {}
    to_store: list[tuple[int, StoredInspection]] = []
    for n, accepted_item in accepted.items():
        item, answer = accepted_item.item, answers[n].answer
        registration_no = found[n].registration_no
        others = stored_sightings.get(n, []) + batch_sightings.get(registration_no, [])
        if registration_no:
            batch_sightings.setdefault(registration_no, []).append(findings.sighting(item))
        flags = findings.flags(item, answer, inspector.scope, others)
        ref = photos.put(now, item.id, accepted_item.photo) if accepted_item.photo is not None else ""
        to_store.append((n, StoredInspection(item, flags, now, Inspector(inspector.token_id, inspector.name,
                                                                         inspector.scope), found[n], ref)))
    # A photo whose write failed midway stays an orphan file, removed with its day by the purge: deleting it
    # here could take the photo of a record Redis stored before the connection broke.
    stored_now = inspections.store([s for _, s in to_store])
    lost = [record.record.id for (_, record), new in zip(to_store, stored_now, strict=True) if not new]
    owners = {i.record.id: i.inspector.token_id for i in inspections.many(province, lost)}
    for (n, record), new in zip(to_store, stored_now, strict=True):
        if new:
            results[n] = Result(record.record.id, Outcome.STORED, record.flags)
            metrics.count_inspection(record.flags)
        else:  # the same id arrived in another request at the same moment, and that one stored it
            if record.photo:
                with contextlib.suppress(OSError):
                    photos.delete(record.photo)
            mine = owners.get(record.record.id) == inspector.token_id
            results[n] = (Result(record.record.id, Outcome.DUPLICATE, record.flags) if mine
                          else Result(record.record.id, Outcome.REFUSED, reason=ID_TAKEN))
    return [r for r in results if r is not None]
