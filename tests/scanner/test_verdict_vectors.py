"""The offline verdict vectors (docs/test-vectors/verdicts.json) through the scanner: a real SQLite cache
holding each case's rows, trust list and sync time, checked by scanner.offline.OfflineChecker."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from keys.algorithms import PublicKey
from scanner.offline import OfflineCache, OfflineChecker, OfflineRegistry
from tests.keys.verdict_vectors import VERDICTS_FILE, entry_from_doc

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "test-vectors"
DOC = json.loads((VECTORS / VERDICTS_FILE).read_text("utf-8"))
CASES = {case["name"]: case for case in DOC["cases"] if case["mode"] == "offline"}


def realise(path: Path, case: dict) -> OfflineCache:
    """The cache as a sync leaves it: the pinned root, the signed trust list, one row per feed entry."""
    cache = OfflineCache(path)
    synced = datetime.fromisoformat(case["offline"]["synced_at"])
    rows = [{"cursor": f"{n}-0", "registration_no": e["registration_no"], "version": e["version"],
             "state": e["state"], "reason": e["reason"], "since": e["since"], "superseded_by": e["superseded_by"],
             "record_no": e["match"]["record_no"], "registered_at": e["registered_at"]}
            for n, e in enumerate(case["registry"]["entries"], 1)]
    with cache.connect() as db:
        cache.record_pin(db, PublicKey.from_spki(base64.b64decode(DOC["root_public_key"])), synced, "vectors")
        cache.set_meta(db, trust_document=(VECTORS / DOC["trust_list"]["file"]).read_text("utf-8"),
                       synced_at=synced.isoformat(timespec="seconds"))
        assert cache.apply_entries(db, rows) == len(rows)
    return cache


@pytest.mark.parametrize("name", sorted(CASES))
def test_offline_verdict_vector(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    cache = realise(tmp_path / "offline.sqlite", case)
    max_age = timedelta(seconds=case["offline"]["max_age_seconds"])
    synced = datetime.fromisoformat(case["offline"]["synced_at"])
    rows = OfflineRegistry(cache, synced, too_old=False, max_age=max_age)
    for entry in case["registry"]["entries"]:
        assert rows.entry(entry["registration_no"], entry["version"]) == entry_from_doc(entry)
    checked = OfflineChecker(cache, max_age).check(case["qr_text"], datetime.fromisoformat(case["now"]))
    assert checked.answer.to_json() == case["expected"]["answer"]
    assert checked.mode == "offline" and not checked.clock_before_sync
