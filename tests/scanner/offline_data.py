"""Offline data as a sync leaves it, for tests that start from given rows: the trust list they name plus a
feed key of the test's own, signed by a fresh root, and one feed page holding the rows, signed by that
feed key. Returns the root, which the caller pins (scanner.pin) or hands to the checker."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from keys.algorithms import PrivateKey, PublicKey
from keys.feed import sign_page
from keys.trustlist import KeyRole, SignedTrustList, TrustedKey, TrustList
from scanner.offline import OfflineCache
from scanner.pin import PinStore


def write_offline(cache: OfflineCache, trust: TrustList, entries: list[dict[str, Any]],
                  generated_at: datetime) -> PublicKey:
    root, feed = PrivateKey.generate(), PrivateKey.generate()
    issuer = trust.issuers[0].code if trust.issuers else "000000"
    trust = trust.with_key(TrustedKey(feed.public_key().kid, feed.public_key(), issuer, KeyRole.FEED))
    signed = SignedTrustList.sign(replace(trust, root=root.public_key()), root)
    rows = [{"cursor": f"{n}-0", "reason": "", "since": None, "superseded_by": None, "record_no": "",
             "registered_at": None, **e} for n, e in enumerate(entries, 1)]
    page = {"format": 1, "since": "0", "next": rows[-1]["cursor"] if rows else "0", "more": False,
            "generated_at": generated_at.isoformat(timespec="seconds"), "entries": rows}
    with cache.connect() as db:
        cache.set_meta(db, trust_document=signed.dumps().decode("utf-8"), trust_serial=trust.serial)
        cache.store_page(db, sign_page(page, feed), len(rows), True)
    return root.public_key()


def pin_for(config_home: Path, data_dir: Path, root: PublicKey, at: datetime) -> None:
    """Pin `root` for `data_dir` as a first sync would, under XDG_CONFIG_HOME=config_home."""
    PinStore(config_home / "crane-scan", data_dir).add(root, at, "test")
