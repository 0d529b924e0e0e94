"""What the store answers: typed results of reads and writes, and its one error."""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, get_args, get_type_hints

import orjson
from typing_extensions import TypedDict  # pydantic reads typing's own only from Python 3.12

from keys.answer import State
from keys.errors import CraneError
from keys.record import Record


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

    @property
    def record(self) -> Record:
        """The typed record; a stored record never changes, so each is parsed once per process."""
        return stored_record(self.record_json)


@lru_cache(maxsize=4096)
def stored_record(record_json: str) -> Record:
    """A record as the store keeps it (registry.record_json), read back; Records are immutable, so shared."""
    return Record.from_stored(record_json)


def stored_record_json(record_json: str) -> dict[str, Any]:
    """What `stored_record(record_json).to_json()` gives, at under half its cost: the stored text is that JSON
    (validated when it was registered) with its keys sorted, so only the record's own field order is put back.
    Every scan of a code this process has not seen pays for this."""
    data = orjson.loads(record_json)
    return {name: _in_order(data[name], section) for name, section in _FIELD_ORDER if name in data}


def _in_order(value: Any, section: tuple[str, ...] | None) -> Any:
    if section is None or not isinstance(value, dict):
        return value
    return {name: value[name] for name in section if name in value}


def _field_order(cls: type) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
    """Each field of a record dataclass in declaration order, with its section's fields where it is one."""
    hints = get_type_hints(cls)
    order = []
    for f in fields(cls):
        kinds = [t for t in (get_args(hints[f.name]) or (hints[f.name],)) if is_dataclass(t)]
        order.append((f.name, tuple(inner.name for inner in fields(kinds[0])) if kinds else None))
    return tuple(order)


_FIELD_ORDER = _field_order(Record)


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


class RefusalJSON(TypedDict):
    """A refusal as GET /api/v1/issuer/refusals gives it; the OpenAPI document's schema is made from this."""

    id: str
    actor: str
    action: str
    registration_no: str
    at: str
    reason: str
    owner: str


class RefusalsPageJSON(TypedDict):
    """A page of GET /api/v1/issuer/refusals: `next` is the cursor of the next page."""

    entries: list[RefusalJSON]
    next: str


@dataclass(frozen=True)
class Refusal:
    """A refused attempt on another authority's certificate: who tried what, when, why, and whose it was."""

    id: str
    actor: str
    action: str
    registration_no: str
    at: str
    reason: str
    owner: str

    def to_json(self) -> RefusalJSON:
        return {"id": self.id, "actor": self.actor, "action": self.action, "registration_no": self.registration_no,
                "at": self.at, "reason": self.reason, "owner": self.owner}
