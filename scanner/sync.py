"""`crane-scan sync`: the trust list and the status feed into the offline data, each as it was signed.

Trust list first. It must check against the pinned root (scanner.pin: the user's configuration, written
on the first sync from --root-pub, moved on only along a cross-signed rotation); a list signed by
neither, or older (a lower serial) than the one already stored or than the highest serial the pin file
records, is refused and nothing changes. The
stored pages are then checked against it (scanner.offline's load); if they no longer verify, the feed is
read again from its start. Then the feed from the stored cursor, page by page: every page's signature
checked against the trust list's feed keys, its cursors continuing the stored ones, and its signed
`generated_at` not older than the newest page already accepted. A captured old page served again
cannot make the data look fresh: the data's age is that signed time, never the time of the sync.
Each page is stored in one transaction, so an interrupted sync resumes where it stopped and a repeated
one changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from keys.algorithms import PublicKey
from keys.errors import CraneError, TrustListError
from keys.feed import FeedError, verify_page
from keys.trustlist import SignedTrustList, TrustList

from .offline import NoOfflineData, OfflineCache, PageError, check_page, parse_cursor
from .online import ServiceClient
from .pin import PinStore

DEFAULT_PAGE = 500


class SyncRefused(CraneError):
    """The server's data failed a check: nothing it sent after that point was stored."""


@dataclass(frozen=True)
class SyncResult:
    trust_serial: int
    root_kid: str
    rotated_from: str | None
    pages: int
    entries: int
    certificates: int
    cursor: str
    data_time: datetime          # the newest page's signed generated_at
    started_over: str | None     # why the stored pages were dropped and the feed read from its start


def check_trust_list(raw: bytes, pin: PublicKey, stored: str | None, accepted: int = 0) -> TrustList:
    """`accepted`: the highest serial ever accepted (kept in the pin file, which outlives the data file)."""
    try:
        document = SignedTrustList.loads(raw)
        trust = document.verify(pin)
    except TrustListError as exc:
        raise SyncRefused(f"trust list refused: {exc} (pinned root {pin.kid})") from None
    previous = None
    if stored:
        try:
            previous = SignedTrustList.loads(stored)
            previous.verify(pin)
        except TrustListError:
            previous = None  # not vouched for by the pin: nothing to compare with
    if previous is not None:
        old_serial = int(previous.body.get("serial", 0))
        if trust.serial < old_serial:
            raise SyncRefused(f"trust list refused: serial {trust.serial} is older than the cached serial {old_serial}")
        if trust.serial == old_serial and document.body != previous.body:
            raise SyncRefused(f"trust list refused: serial {trust.serial} differs from the cached list of the same serial")
    if trust.serial < accepted:
        raise SyncRefused(f"信任列表版本回退 / trust list refused: serial {trust.serial} is older than serial {accepted} "
                          f"already accepted with this pin")
    return trust


def sync(client: ServiceClient, cache: OfflineCache, pins: PinStore, given_root: PublicKey | None,
         now: Callable[[], datetime], page_size: int = DEFAULT_PAGE) -> SyncResult:
    pin, first = pins.choose(given_root)
    meta = cache.meta()
    started = now()
    with cache.connect() as db:
        run_id = db.execute("INSERT INTO syncs (server, started_at) VALUES (?, ?)",
                            (client.url, started.isoformat(timespec="seconds"))).lastrowid
    outcome = "failed"
    pages = entries_seen = 0
    try:
        raw = client.trust_list()
        trust = check_trust_list(raw, pin, meta.get("trust_document"), pins.trust_serial())
        assert trust.root is not None
        rotated_from = pin.kid if trust.root != pin else None
        if first:
            pins.add(pin, started, "--root-pub")
        if rotated_from:
            pins.add(trust.root, started, f"cross-signed by {rotated_from}")
        pins.record_serial(trust.serial)
        started_over = None
        if meta.get("server", client.url) != client.url:
            started_over = f"another server than {meta['server']}"
        else:
            try:
                stored = cache.load(trust.root, trust)
            except NoOfflineData as exc:
                started_over = None if "no trust list" in str(exc) else str(exc)
                stored = None
        if started_over or stored is None:
            cursor, newest = "0", None
        else:
            cursor, newest = stored.cursor, stored.newest
        with cache.connect() as db:
            if started_over or stored is None:
                cache.clear_pages(db)
            cache.set_meta(db, trust_document=raw.decode("utf-8"), trust_serial=trust.serial, server=client.url)
            db.execute("UPDATE syncs SET trust_serial = ? WHERE id = ?", (trust.serial, run_id))
        while True:
            document = client.feed_page(cursor, page_size)
            try:
                page = check_page(verify_page(document, trust), cursor)
            except FeedError as exc:
                raise SyncRefused(f"status feed refused: {exc}") from None
            except PageError as exc:
                raise SyncRefused(str(exc)) from None
            if newest is not None and page.generated_at < newest:
                raise SyncRefused(f"status feed refused: a page generated at {page.generated_at.isoformat()} is older "
                                  f"than the newest page already accepted ({newest.isoformat()}): an old page replayed?")
            with cache.connect() as db:
                cache.store_page(db, document, len(page.entries), not page.more)
                cache.set_meta(db, cursor=page.next, feed_generated_at=page.generated_at.isoformat())
                db.execute("UPDATE syncs SET pages = pages + 1, entries = entries + ? WHERE id = ?",
                           (len(page.entries), run_id))
            pages += 1
            entries_seen += len(page.entries)
            newest = page.generated_at
            if not page.more:
                break
            if parse_cursor(page.next) <= parse_cursor(cursor):
                raise SyncRefused("the status feed says there is more but does not move on")
            cursor = page.next
        loaded = cache.load(trust.root, trust)
        assert loaded.data_time is not None
        with cache.connect() as db:
            cache.write_listing(db, loaded.rows.values())
            cache.set_meta(db, last_sync=now().isoformat(timespec="seconds"))
        outcome = "ok"
        return SyncResult(trust.serial, trust.root.kid, rotated_from, pages, entries_seen, len(loaded.rows),
                          loaded.cursor, loaded.data_time, started_over)
    except SyncRefused as exc:
        outcome = f"refused: {exc}"
        raise
    except Exception as exc:
        outcome = f"failed: {exc}"
        raise
    finally:
        with cache.connect() as db:
            db.execute("UPDATE syncs SET finished_at = ?, outcome = ? WHERE id = ?",
                       (now().isoformat(timespec="seconds"), outcome, run_id))


def describe(result: SyncResult, china: Callable[[datetime], str]) -> list[str]:
    lines = [f"trust list serial {result.trust_serial}, root {result.root_kid}"
             + (f" (root moved on from {result.rotated_from} by cross-signature)" if result.rotated_from else "")]
    if result.started_over:
        lines.append(f"stored feed pages dropped ({result.started_over}); the feed was read from its start")
    lines.append(f"status feed: {result.entries} new entries in {result.pages} page(s); "
                 f"{result.certificates} certificate versions in the offline data; cursor {result.cursor}")
    lines.append(f"数据截至 / data as of {china(result.data_time)} (UTC+8, signed by the service)")
    return lines
