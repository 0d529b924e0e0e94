"""`crane-scan sync`: the trust list and the status feed into the offline cache.

Trust list first. It must check against the pinned root (the pin is stored in the cache on the first
sync, from --root-pub, and moves only along a cross-signed rotation); a list signed by neither, or
older (a lower serial) than the one already cached, is refused and nothing changes. Then the feed from
the stored cursor, page by page, every page's signature checked against the trust list's feed keys.
Each page is applied in one transaction with the new cursor, so an interrupted sync resumes where it
stopped and a repeated one changes nothing. The sync time is set only when the feed has been read to
its end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keys.algorithms import PublicKey
from keys.answer import State
from keys.errors import CraneError, TrustListError
from keys.feed import FeedError, verify_page
from keys.trustlist import SignedTrustList, TrustList

from .offline import OfflineCache, parse_cursor
from .online import ServiceClient

DEFAULT_PAGE = 500


class SyncRefused(CraneError):
    """The server's data failed a check: nothing it sent after that point was stored."""


class NeedRoot(CraneError):
    """The first sync needs the root public key to pin."""


@dataclass(frozen=True)
class SyncResult:
    trust_serial: int
    root_kid: str
    rotated_from: str | None
    pages: int
    entries: int
    certificates: int
    cursor: str
    synced_at: datetime


def check_trust_list(raw: bytes, pin: PublicKey, meta: dict[str, str]) -> TrustList:
    try:
        document = SignedTrustList.loads(raw)
        trust = document.verify(pin)
    except TrustListError as exc:
        raise SyncRefused(f"trust list refused: {exc} (pinned root {pin.kid})") from None
    stored = meta.get("trust_document")
    if stored:
        previous = SignedTrustList.loads(stored)
        old_serial = int(previous.body.get("serial", 0))
        if trust.serial < old_serial:
            raise SyncRefused(f"trust list refused: serial {trust.serial} is older than the cached serial {old_serial}")
        if trust.serial == old_serial and document.body != previous.body:
            raise SyncRefused(f"trust list refused: serial {trust.serial} differs from the cached list of the same serial")
    return trust


def _check_page(page: dict[str, Any], since: str) -> tuple[list[dict[str, Any]], str, bool]:
    entries, following, more = page.get("entries"), page.get("next"), page.get("more")
    if str(page.get("since")) != since:
        raise SyncRefused(f"feed page answers since={page.get('since')!r}, asked for {since!r}")
    if not isinstance(entries, list) or not isinstance(following, str) or not isinstance(more, bool):
        raise SyncRefused("feed page lacks entries, next or more")
    try:
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
        if entries and parse_cursor(following) != last:
            raise ValueError("next is not the last entry's cursor")
    except (KeyError, ValueError, TypeError) as exc:
        raise SyncRefused(f"feed page malformed: {exc}") from None
    return entries, following, more


def sync(client: ServiceClient, cache: OfflineCache, given_root: PublicKey | None, now: Callable[[], datetime],
         page_size: int = DEFAULT_PAGE) -> SyncResult:
    meta = cache.meta()
    pin = cache.pinned_root()
    first = pin is None
    if pin is None:
        if given_root is None:
            raise NeedRoot("the first sync needs the root public key: --root-pub ROOT.pub.pem or CRANE_ROOT_PUB")
        pin = given_root
    elif given_root is not None and given_root != pin:
        known = {kid for kid, _, _ in cache.pins()}
        if given_root.kid not in known:
            raise SyncRefused(f"the offline data is pinned to root {pin.kid}; --root-pub names another root "
                              f"{given_root.kid}. To trust a different root, use a new data directory.")
    started = now()
    with cache.connect() as db:
        run_id = db.execute("INSERT INTO syncs (server, started_at) VALUES (?, ?)",
                            (client.url, started.isoformat(timespec="seconds"))).lastrowid
    outcome = "failed"
    pages = entries_seen = 0
    try:
        raw = client.trust_list()
        trust = check_trust_list(raw, pin, meta)
        assert trust.root is not None
        rotated_from = pin.kid if trust.root != pin else None
        with cache.connect() as db:
            if first:
                cache.record_pin(db, pin, started, "--root-pub")
            if rotated_from:
                cache.record_pin(db, trust.root, started, f"cross-signed by {rotated_from}")
            cache.set_meta(db, trust_document=raw.decode("utf-8"), trust_serial=trust.serial)
            if meta.get("server") != client.url:
                # A cursor belongs to one service's stream; another server starts over (rows are upserted).
                cache.set_meta(db, server=client.url, cursor="0")
                meta["cursor"] = "0"
            db.execute("UPDATE syncs SET trust_serial = ? WHERE id = ?", (trust.serial, run_id))
        cursor = meta.get("cursor", "0")
        while True:
            document = client.feed_page(cursor, page_size)
            try:
                page = verify_page(document, trust)
            except FeedError as exc:
                raise SyncRefused(f"status feed refused: {exc}") from None
            entries, following, more = _check_page(page, cursor)
            with cache.connect() as db:
                cache.apply_entries(db, entries)
                cache.set_meta(db, cursor=following, feed_generated_at=str(page.get("generated_at", "")))
                db.execute("UPDATE syncs SET pages = pages + 1, entries = entries + ? WHERE id = ?",
                           (len(entries), run_id))
            pages += 1
            entries_seen += len(entries)
            if not more:
                break
            if following == cursor:
                raise SyncRefused("the status feed says there is more but does not move on")
            cursor = following
        finished = now()
        with cache.connect() as db:
            cache.set_meta(db, synced_at=finished.isoformat(timespec="seconds"))
            count = db.execute("SELECT count(*) FROM certificates").fetchone()[0]
        outcome = "ok"
        return SyncResult(trust.serial, trust.root.kid, rotated_from, pages, entries_seen, count, following, finished)
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


def describe(result: SyncResult) -> list[str]:
    lines = [f"trust list serial {result.trust_serial}, root {result.root_kid}"
             + (f" (root moved on from {result.rotated_from} by cross-signature)" if result.rotated_from else "")]
    lines.append(f"status feed: {result.entries} new entries in {result.pages} page(s); "
                 f"{result.certificates} certificate versions in the offline data; cursor {result.cursor}")
    lines.append(f"synced at {result.synced_at.isoformat(timespec='seconds')}")
    return lines
