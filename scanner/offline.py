"""The offline data (SQLite under the data directory) and verdicts from it.

`crane-scan sync` keeps what the service signed, as it was signed: the trust list document and every
status feed page. Nothing in the file is believed for being there. Loading it checks the trust list
against the root pinned in the user's configuration (scanner.pin, never a copy in the file), every page
against the trust list's feed keys, and the pages as one unbroken chain of cursors from the start of
the feed; the certificates' states are then folded from the pages in memory. A file edited by hand
(an SQL UPDATE, a swapped trust list, a page removed from the middle) does not load: the scan stops with
an error rather than answer from it. The data's age is the signed `generated_at` of the newest page,
never the local time of a sync, so a replayed old page cannot make old data look fresh.

Offline, keys.verdict decides the answer as the service does: the code's signature against the
verified trust list, its status from the folded rows (`OfflineRegistry`), marked `offline` with the
data time. What the data cannot vouch for (a certificate it has never seen, data older than the allowed
age, an e-licence identifier) is unavailable, so the state is `unknown`, never a guess.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from keys.algorithms import PublicKey
from keys.answer import CHINA_TIME, Source, State
from keys.errors import CraneError
from keys.feed import verify_page
from keys.identifiers import LicenceId
from keys.payload import Verification, verify_at
from keys.trustlist import SignedTrustList, TrustList
from keys.verdict import Lookup, Provenance, RegistryEntry, SameRecordNo, Unavailable, answer_code

from .verdicts import Checked

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document TEXT NOT NULL,     -- the signed page exactly as the service sent it
    entries INTEGER NOT NULL
);
-- For people and other tools to read (sqlite3 offline.sqlite): rewritten from the checked pages by every sync,
-- never read by a scan, so editing it changes no answer.
CREATE TABLE IF NOT EXISTS certificates (
    registration_no TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    since TEXT,
    superseded_by INTEGER,
    record_no TEXT NOT NULL,
    registered_at TEXT,
    PRIMARY KEY (registration_no, version)
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
CLOCK_BEHIND = ("设备时钟早于数据时间（{t}），请校准时间 / the device clock is earlier than the offline data ({t}); "
                "check the clock")
NOT_VERIFIED = "离线数据校验未通过，请重新同步 / the offline data at {path} does not verify ({why}); run crane-scan sync again"


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


class NoOfflineData(CraneError):
    """There is no offline data to answer from, or what is there does not verify."""


class PageError(CraneError):
    """A feed page's content is not a well-formed continuation of the feed."""


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


@dataclass(frozen=True)
class PageContent:
    """What a verified page says, checked for shape and order."""

    since: str
    entries: list[dict[str, Any]]
    next: str
    more: bool
    generated_at: datetime


def check_page(page: dict[str, Any], since: str, region: str | None = None) -> PageContent:
    """A signed page's content as the continuation of the feed at `since`: PageError otherwise.

    `region` is the region the page was asked for (None: the whole feed, all crane-scan syncs). The signed
    page must name exactly that region: a regional page leaves out other regions' revocations and its `next`
    may lie past its last entry, so it must never pass for a page of the whole feed (the rule of
    webapp/src/core/feed.js checkFeedPage; vectors in docs/test-vectors/feed-pages.json)."""
    entries, following, more = page.get("entries"), page.get("next"), page.get("more")
    if str(page.get("since")) != since:
        raise PageError(f"feed page answers since={page.get('since')!r}, asked for {since!r}")
    if page.get("region") != region:
        raise PageError(f"状态数据的地区与请求不符 / feed page is for region {page.get('region')!r}, asked for {region!r}")
    if not isinstance(entries, list) or not isinstance(following, str) or not isinstance(more, bool):
        raise PageError("feed page lacks entries, next or more")
    try:
        generated = datetime.fromisoformat(str(page.get("generated_at")))
        if generated.tzinfo is None:
            raise ValueError("generated_at has no time zone")
        last = parse_cursor(since)
        for entry in entries:
            if not isinstance(entry, dict):
                raise ValueError("an entry is not an object")
            position = parse_cursor(str(entry["cursor"]))
            if position <= last:
                raise ValueError(f"entry {entry['cursor']} is not after {since}")
            last = position
            State(entry["state"])
            int(entry["version"])
            if not isinstance(entry["registration_no"], str) or not entry["registration_no"]:
                raise ValueError("an entry has no registration number")
        if entries and (parse_cursor(following) != last if region is None else parse_cursor(following) < last):
            raise ValueError("next is not the last entry's cursor")
        if parse_cursor(following) < parse_cursor(since):
            raise ValueError(f"next {following} is behind since {since}")
    except (KeyError, ValueError, TypeError) as exc:
        raise PageError(f"feed page malformed: {exc}") from None
    return PageContent(since, entries, following, more, generated)


def row_of(entry: dict[str, Any]) -> Row:
    by = entry.get("superseded_by")
    return Row(str(entry["registration_no"]), int(entry["version"]), State(entry["state"]).value,
               str(entry.get("reason") or ""), entry.get("since") or None, int(by) if by else None,
               str(entry.get("record_no") or ""), entry.get("registered_at") or None)


@dataclass(frozen=True)
class OfflineData:
    """The offline data after every check: what a scan answers from."""

    trust: TrustList
    trust_serial: int
    rows: Mapping[tuple[str, int], Row]
    cursor: str
    # The signed generated_at of the newest page that ended the feed (`more` false): the data is complete as
    # of then. None when no sync has yet read the feed to its end.
    data_time: datetime | None
    newest: datetime | None      # the newest page's generated_at (a later page may never be older)


class OfflineCache:
    """The SQLite file. Each method is one transaction; a page of the feed is stored atomically."""

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
        db = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._local.db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            if "cursor" in {c[1] for c in db.execute("PRAGMA table_info(certificates)")}:
                # Data from before the pages were kept: its rows were the trusted copy; now they are rebuilt.
                db.executescript("DROP TABLE certificates; DROP TABLE IF EXISTS pins;")
            db.executescript(SCHEMA)
        with db:  # commit on success, roll back on any exception
            yield db

    def meta(self) -> dict[str, str]:
        """Bookkeeping (server, last run): informative only, never a basis for a verdict."""
        if not self.exists:
            return {}
        with self.connect() as db:
            return dict(db.execute("SELECT key, value FROM meta"))

    @staticmethod
    def set_meta(db: sqlite3.Connection, **values: Any) -> None:
        db.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       [(k, str(v)) for k, v in values.items()])

    @staticmethod
    def store_page(db: sqlite3.Connection, document: dict[str, Any], entries: int, ends_feed: bool) -> None:
        if not entries and ends_feed:
            # Empty pages move no cursor: the newest one that ends the feed alone carries the data time.
            db.execute("DELETE FROM pages WHERE entries = 0")
        db.execute("INSERT INTO pages (document, entries) VALUES (?, ?)",
                   (json.dumps(document, ensure_ascii=False, separators=(",", ":")), entries))

    @staticmethod
    def clear_pages(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM pages")

    @staticmethod
    def write_listing(db: sqlite3.Connection, rows: Iterable[Row]) -> None:
        db.execute("DELETE FROM certificates")
        db.executemany("INSERT INTO certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [astuple(r) for r in rows])

    def load(self, root: PublicKey, trust: TrustList | None = None) -> OfflineData:
        """Everything checked (see the module's docstring); NoOfflineData says what did not hold.

        `trust`, when given, is a list already checked against the root (a sync checks the stored pages
        against the list it has just fetched)."""
        if not self.exists:
            raise NoOfflineData(f"no offline data at {self.path}")
        try:
            with self.connect() as db:
                stored = db.execute("SELECT value FROM meta WHERE key = 'trust_document'").fetchone()
                documents = [d for (d,) in db.execute("SELECT document FROM pages ORDER BY id")]
            if trust is None:
                if stored is None:
                    raise NoOfflineData(f"no trust list in the offline data at {self.path}")
                trust = SignedTrustList.loads(stored[0]).verify(root)
            rows: dict[tuple[str, int], Row] = {}
            cursor, data_time, newest = "0", None, None
            for document in documents:
                page = check_page(verify_page(json.loads(document), trust), cursor)
                if newest is not None and page.generated_at < newest:
                    raise PageError(f"page of {page.generated_at.isoformat()} stored after a newer one")
                for entry in page.entries:
                    row = row_of(entry)
                    rows[(row.registration_no, row.version)] = row
                cursor, newest = page.next, page.generated_at
                if not page.more:
                    data_time = page.generated_at
        except NoOfflineData:
            raise
        except (CraneError, ValueError, TypeError, KeyError, sqlite3.DatabaseError) as exc:
            raise NoOfflineData(NOT_VERIFIED.format(path=self.path, why=exc)) from None
        return OfflineData(trust, trust.serial, rows, cursor, data_time, newest)


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
    """Verdicts from the offline data alone; loads and checks it once per run."""

    def __init__(self, cache: OfflineCache, root: Callable[[], PublicKey], max_age: timedelta = DEFAULT_MAX_AGE):
        self.cache = cache
        self.root = root
        self.max_age = max_age
        self._data: OfflineData | NoOfflineData | None = None

    def ready(self) -> OfflineData:
        """The checked data; NoOfflineData when there is none, or it does not verify (found once per run)."""
        if self._data is None:
            self._data = self._load()
        if isinstance(self._data, NoOfflineData):
            raise self._data
        return self._data

    def _load(self) -> OfflineData | NoOfflineData:
        if not self.cache.exists:
            return NoOfflineData(f"no offline data at {self.cache.path}")
        try:
            data = self.cache.load(self.root())
        except NoOfflineData as exc:
            return exc
        except CraneError as exc:
            return NoOfflineData(str(exc))
        if data.data_time is None:
            return NoOfflineData(f"the offline data at {self.cache.path} was never completely synced")
        return data

    def local_signature(self, text: str, now: datetime) -> Verification | None:
        """The signature checked with the offline trust list, or None when there is none."""
        try:
            data = self.ready()
        except NoOfflineData:
            return None
        return verify_at(text, data.trust, now)

    def row(self, registration_no: str, version: int) -> Row | None:
        try:
            data = self.ready()
        except NoOfflineData:
            return None
        return data.rows.get((registration_no, version))

    def check(self, text: str, now: datetime) -> Checked:
        data = self.ready()
        assert data.data_time is not None
        age = now - data.data_time
        notes: list[str] = []
        clock_behind = age < timedelta(0)
        if clock_behind:
            notes.append(CLOCK_BEHIND.format(t=china(data.data_time)))
        registry = OfflineRegistry(data.rows, data.data_time, age > self.max_age, self.max_age)
        answer = answer_code(text, data.trust, registry, now)
        return Checked(answer, "offline", int(age.total_seconds()), notes, clock_behind)


class OfflineRegistry:
    """The folded rows as keys.verdict's Registry for one check: what they cannot vouch for is unavailable."""

    def __init__(self, rows: Mapping[tuple[str, int], Row], data_time: datetime, too_old: bool, max_age: timedelta):
        self.rows, self.data_time, self.too_old, self.max_age = rows, data_time, too_old, max_age
        self.provenance = Provenance(Source.OFFLINE, data_time)

    def entry(self, registration_no: str, version: int) -> Lookup:
        if self.too_old:
            return Unavailable(TOO_OLD.format(t=china(self.data_time), d=human_duration(self.max_age)))
        row = self.rows.get((registration_no, version))
        if row is None:
            return Unavailable(NOT_IN_DATA.format(t=china(self.data_time)))
        return RegistryEntry(row.registration_no, row.version, State(row.state), SameRecordNo(row.record_no),
                             row.reason, _time(row.since), row.superseded_by, _time(row.registered_at))

    def by_licence(self, licence_id: LicenceId) -> Lookup:
        return Unavailable(BY_LICENCE)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
