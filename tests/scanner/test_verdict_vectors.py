"""The offline verdict vectors (docs/test-vectors/verdicts.json) through the scanner: a real SQLite cache
holding each case's rows and trust list as signed
documents (a feed page generated at the case's sync time), checked by scanner.offline.OfflineChecker."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from keys.algorithms import PublicKey
from keys.trustlist import SignedTrustList
from scanner.offline import OfflineCache, OfflineChecker, OfflineRegistry
from tests.keys.verdict_vectors import VERDICTS_FILE, entry_from_doc
from tests.scanner.offline_data import write_offline

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "test-vectors"
DOC = json.loads((VECTORS / VERDICTS_FILE).read_text("utf-8"))
CASES = {case["name"]: case for case in DOC["cases"] if case["mode"] == "offline"}


def realise(path: Path, case: dict) -> tuple[OfflineCache, PublicKey]:
    """The offline data as a sync leaves it: the case's trust list and one signed feed page of its rows."""
    cache = OfflineCache(path)
    trust = SignedTrustList.loads((VECTORS / DOC["trust_list"]["file"]).read_text("utf-8")).unverified()
    rows = [{"registration_no": e["registration_no"], "version": e["version"], "state": e["state"],
             "reason": e["reason"], "since": e["since"], "superseded_by": e["superseded_by"],
             "record_no": e["match"]["record_no"], "registered_at": e["registered_at"]}
            for e in case["registry"]["entries"]]
    root = write_offline(cache, trust, rows, datetime.fromisoformat(case["offline"]["synced_at"]))
    return cache, root


@pytest.mark.parametrize("name", sorted(CASES))
def test_offline_verdict_vector(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    cache, root = realise(tmp_path / "offline.sqlite", case)
    max_age = timedelta(seconds=case["offline"]["max_age_seconds"])
    checker = OfflineChecker(cache, lambda: root, max_age)
    data = checker.ready()
    assert data.data_time == datetime.fromisoformat(case["offline"]["synced_at"])
    rows = OfflineRegistry(data.rows, data.data_time, too_old=False, max_age=max_age)
    for entry in case["registry"]["entries"]:
        assert rows.entry(entry["registration_no"], entry["version"]) == entry_from_doc(entry)
    checked = checker.check(case["qr_text"], datetime.fromisoformat(case["now"]))
    assert checked.answer.to_json() == case["expected"]["answer"]
    assert checked.mode == "offline" and not checked.clock_before_sync
