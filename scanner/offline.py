"""The offline cache (SQLite under the data directory) and verdicts from it.

`crane-scan sync` fills it: the signed trust list with the root it is pinned to, and one row per
certificate version folded from the signed status feed. Offline, keys.verdict decides the answer as
the service does: the code's signature against the cached trust list, its status from the rows
(`OfflineRegistry`), marked `offline` with the data time. What the cache cannot vouch for (a certificate
it has never seen, data older than the allowed age, an e-licence identifier) is unavailable, so the
state is `unknown`, never a guess.
"""

from __future__ import annotations

import base64
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from keys.algorithms import PublicKey
from keys.answer import CHINA_TIME, Source, State
from keys.errors import TrustListError
from keys.identifiers import LicenceId
from keys.payload import Verification, verify_at
from keys.trustlist import SignedTrustList, TrustList
from keys.verdict import Lookup, Provenance, RegistryEntry, SameRecordNo, Unavailable, answer_code

from .verdicts import Checked

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (
    registration_no TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    since TEXT,
    superseded_by INTEGER,
    record_no TEXT NOT NULL DEFAULT '',
    registered_at TEXT,
    cursor TEXT NOT NULL,
    cursor_ms INTEGER NOT NULL,
    cursor_seq INTEGER NOT NULL,
    PRIMARY KEY (registration_no, version)
);
CREATE TABLE IF NOT EXISTS pins (
    kid TEXT PRIMARY KEY,
    spki TEXT NOT NULL,
    pinned_at TEXT NOT NULL,
    how TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS syncs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    trust_serial INTEGER,
    pages INTEGER NOT NULL DEFAULT 0,
    entries INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL DEFAULT 'running'
);
"""

DEFAULT_MAX_AGE = timedelta(days=7)

NOT_IN_DATA = "离线数据中无此证书（数据截至 {t}） / not in offline data as of {t}"
TOO_OLD = "离线数据已过期（数据截至 {t}，超过允许的 {d}） / offline data as of {t} is older than the allowed {d}"
BY_LICENCE = ("离线数据无法按电子证照标识查询，请联网核验 / an e-licence identifier can only be looked up online")
CLOCK_BEHIND = ("设备时钟早于上次同步时间（{t}），请校准时间 / the device clock is earlier than the last sync ({t}); "
                "check the clock")



def cache_path(data_dir: Path) -> Path:
    return data_dir / "scanner" / "offline.sqlite"


def parse_cursor(cursor: str) -> tuple[int, int]:
    """A feed cursor (a Redis stream id, `ms-seq`) as a sortable pair; "0" is the start."""
    if cursor in ("", "0"):
        return (0, 0)
    head, sep, tail = cursor.partition("-")
    if not (head.isdigit() and (not sep or tail.isdigit())):
        raise ValueError(f"not a feed cursor: {cursor!r}")
    return int(head), int(tail or 0)


class NoOfflineData(Exception):
    """The cache has never been synced."""


@dataclass(frozen=True)
class Row:
    registration_no: str
    version: int
    state: str
    reason: str
    since: str | None
    superseded_by: int | None
    record_no: str
    registered_at: str | None


class OfflineCache:
    """The SQLite file. Each method is one transaction; a page of the feed is applied atomically."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> OfflineCache:
        return cls(cache_path(data_dir))

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        # One connection per thread, set up once: a scan of many photos reads a row per code.
        db = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._local.db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
        with db:  # commit on success, roll back on any exception
            yield db

    # --- meta ---------------------------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        if not self.exists:
            return {}
        with self.connect() as db:
            return dict(db.execute("SELECT key, value FROM meta"))

    @staticmethod
    def set_meta(db: sqlite3.Connection, **values: Any) -> None:
        db.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       [(k, str(v)) for k, v in values.items()])

    def pinned_root(self) -> PublicKey | None:
        spki = self.meta().get("pin_spki")
        return PublicKey.from_spki(base64.b64decode(spki)) if spki else None

    @staticmethod
    def record_pin(db: sqlite3.Connection, root: PublicKey, at: datetime, how: str) -> None:
        OfflineCache.set_meta(db, pin_spki=base64.b64encode(root.spki).decode("ascii"), pin_kid=root.kid)
        db.execute("INSERT OR IGNORE INTO pins (kid, spki, pinned_at, how) VALUES (?, ?, ?, ?)",
                   (root.kid, base64.b64encode(root.spki).decode("ascii"), _iso(at), how))

    def pins(self) -> list[tuple[str, str, str]]:
        with self.connect() as db:
            return list(db.execute("SELECT kid, pinned_at, how FROM pins ORDER BY pinned_at, rowid"))

    def trust_list(self) -> TrustList:
        """The cached list, checked again against the pin (one signature: cheap, and the file may be copied)."""
        meta = self.meta()
        document, pin = meta.get("trust_document"), self.pinned_root()
        if not document or pin is None:
            raise NoOfflineData("no trust list in the offline data")
        return SignedTrustList.loads(document).verify(pin)

    def synced_at(self) -> datetime | None:
        value = self.meta().get("synced_at")
        return datetime.fromisoformat(value) if value else None

    # --- certificates -------------------------------------------------------------------------------

    @staticmethod
    def apply_entries(db: sqlite3.Connection, entries: Iterable[dict[str, Any]]) -> int:
        """Fold feed entries into rows; an entry older than the row's (by cursor) changes nothing."""
        count = 0
        for e in entries:
            cursor = str(e["cursor"])
            ms, seq = parse_cursor(cursor)
            by = e.get("superseded_by")
            db.execute(
                """INSERT INTO certificates (registration_no, version, state, reason, since, superseded_by, record_no,
                                             registered_at, cursor, cursor_ms, cursor_seq)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(registration_no, version) DO UPDATE SET
                     state = excluded.state, reason = excluded.reason, since = excluded.since,
                     superseded_by = excluded.superseded_by, record_no = excluded.record_no,
                     registered_at = excluded.registered_at, cursor = excluded.cursor,
                     cursor_ms = excluded.cursor_ms, cursor_seq = excluded.cursor_seq
                   WHERE (excluded.cursor_ms, excluded.cursor_seq) > (certificates.cursor_ms, certificates.cursor_seq)""",
                (str(e["registration_no"]), int(e["version"]), State(e["state"]).value, str(e.get("reason") or ""),
                 e.get("since") or None, int(by) if by else None, str(e.get("record_no") or ""),
                 e.get("registered_at") or None, cursor, ms, seq))
            count += 1
        return count

    def get(self, registration_no: str, version: int) -> Row | None:
        with self.connect() as db:
            row = db.execute("""SELECT registration_no, version, state, reason, since, superseded_by, record_no,
                                       registered_at FROM certificates WHERE registration_no = ? AND version = ?""",
                             (registration_no, version)).fetchone()
        return Row(*row) if row else None

    def rows(self) -> list[Row]:
        with self.connect() as db:
            return [Row(*r) for r in db.execute(
                """SELECT registration_no, version, state, reason, since, superseded_by, record_no, registered_at
                   FROM certificates ORDER BY registration_no, version""")]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def china(moment: datetime) -> str:
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def human_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} 天 / {seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} 小时 / {seconds // 3600} h"
    return f"{seconds} 秒 / {seconds} s"


class OfflineChecker:
    """Verdicts from the cache alone. Loads the trust list once per run."""

    def __init__(self, cache: OfflineCache, max_age: timedelta = DEFAULT_MAX_AGE):
        self.cache = cache
        self.max_age = max_age
        self._trust: TrustList | None = None
        self._synced: datetime | None = None

    def ready(self) -> None:
        """Raises NoOfflineData (or TrustListError) when there is nothing to check against."""
        if self._trust is not None:
            return
        if not self.cache.exists:
            raise NoOfflineData(f"no offline data at {self.cache.path}")
        synced = self.cache.synced_at()
        if synced is None:
            raise NoOfflineData(f"the offline data at {self.cache.path} was never completely synced")
        try:
            self._trust = self.cache.trust_list()
        except TrustListError as exc:
            raise NoOfflineData(f"the cached trust list does not check against the pinned root: {exc}") from None
        self._synced = synced

    def local_signature(self, text: str, now: datetime) -> Verification | None:
        """The signature checked with the cached trust list, or None when there is none."""
        try:
            self.ready()
        except NoOfflineData:
            return None
        assert self._trust is not None
        return verify_at(text, self._trust, now)

    def check(self, text: str, now: datetime) -> Checked:
        self.ready()
        assert self._trust is not None and self._synced is not None
        synced = self._synced
        age = now - synced
        notes: list[str] = []
        clock_behind = age < timedelta(0)
        if clock_behind:
            notes.append(CLOCK_BEHIND.format(t=china(synced)))
        answer = answer_code(text, self._trust, OfflineRegistry(self.cache, synced, age > self.max_age, self.max_age),
                             now)
        return Checked(answer, "offline", int(age.total_seconds()), notes, clock_behind)


class OfflineRegistry:
    """The cache as keys.verdict's Registry for one check: what it cannot vouch for is unavailable."""

    def __init__(self, cache: OfflineCache, synced: datetime, too_old: bool, max_age: timedelta):
        self.cache, self.synced, self.too_old, self.max_age = cache, synced, too_old, max_age
        self.provenance = Provenance(Source.OFFLINE, synced)

    def entry(self, registration_no: str, version: int) -> Lookup:
        if self.too_old:
            return Unavailable(TOO_OLD.format(t=china(self.synced), d=human_duration(self.max_age)))
        row = self.cache.get(registration_no, version)
        if row is None:
            return Unavailable(NOT_IN_DATA.format(t=china(self.synced)))
        return RegistryEntry(row.registration_no, row.version, State(row.state), SameRecordNo(row.record_no),
                             row.reason, _time(row.since), row.superseded_by, _time(row.registered_at))

    def by_licence(self, licence_id: LicenceId) -> Lookup:
        return Unavailable(BY_LICENCE)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
