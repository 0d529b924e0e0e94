"""Inspection records: what inspectors' scanners report, what the service finds in it, what supervisors see.

- record.py: the uploaded record (validated by its types, which give its JSON Schema) and the flags;
- findings.py: the flags a record earns at receipt;
- ingest.py: a batch received: records checked, re-verified, flagged, stored once per id;
- store.py: the records in Redis (one hash tag per province); photos.py: photo files;
- access.py: supervisors' page sessions and one-time enrolment codes;
- api.py: the JSON endpoints; pages.py: the supervisors' pages under /supervise/; export.py: CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from ..config import Config
from ..store import Store
from .access import Enrolments, Sessions
from .photos import FilePhotos, Photos
from .store import InspectionStore


@dataclass(frozen=True)
class Retention:
    """How long records and photos are kept: CRANE_INSPECTION_RETENTION_DAYS (3 years), CRANE_PHOTO_RETENTION_DAYS (1)."""

    records: timedelta = timedelta(days=3 * 365)
    photos: timedelta = timedelta(days=365)

    @classmethod
    def of(cls, config: Config) -> Retention:
        """The settings as Config.from_env read and checked them at startup."""
        return cls(timedelta(days=config.inspection_retention_days), timedelta(days=config.photo_retention_days))


@dataclass(frozen=True)
class Parts:
    records: InspectionStore
    sessions: Sessions
    enrolments: Enrolments
    photos: Photos
    retention: Retention

    @classmethod
    def of(cls, store: Store, config: Config, retention: Retention | None = None) -> Parts:
        transport = store.transport
        return cls(InspectionStore(transport), Sessions(transport), Enrolments(transport),
                   FilePhotos(config.data_dir / "photos"), retention or Retention.of(config))


def parts() -> Parts:
    """The app's inspection parts, made on first use."""
    found = current_app.extensions.get("crane-inspections")
    if found is None:
        crane = current_app.extensions["crane"]
        found = current_app.extensions["crane-inspections"] = Parts.of(crane.store, crane.config)
    return found


def purge(p: Parts, now: datetime) -> tuple[int, int]:
    """Records and photos past their retention removed: (records, photos)."""
    records, refs = p.records.purge(now - p.retention.records)
    deleted = sum(p.photos.delete(ref) for ref in refs)
    return records, p.photos.purge(now - p.retention.photos) + deleted
