"""The online verdict vectors (docs/test-vectors/verdicts.json) through the service: a real Redis store,
brought to each case's registry by the issuer's own steps, read by verify_api.resolve's adapter."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from itertools import groupby
from pathlib import Path

import pytest

from keys.algorithms import PublicKey
from keys.answer import State
from keys.record import Record
from keys.trustlist import SignedTrustList, TrustList
from tests.keys.verdict_vectors import ACTOR, VERDICTS_FILE, entry_from_doc
from verify_api.resolve import registry_entry, resolve
from verify_api.store import Outcome, Store

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "test-vectors"
DOC = json.loads((VECTORS / VERDICTS_FILE).read_text("utf-8"))
CASES = {case["name"]: case for case in DOC["cases"] if case["mode"] == "online"}
CHANGED_BY_STATUS = (State.SUSPENDED, State.REVOKED, State.ENDED)


@pytest.fixture(scope="module")
def trust() -> TrustList:
    root = PublicKey.from_spki(base64.b64decode(DOC["root_public_key"]))
    return SignedTrustList.loads((VECTORS / DOC["trust_list"]["file"]).read_bytes()).verify(root)


def realise(store: Store, registry: dict) -> None:
    """Register each certificate, correct it into its later versions, change the last one's status."""
    entries = sorted(registry["entries"], key=lambda e: (e["registration_no"], e["version"]))
    for registration_no, group in groupby(entries, key=lambda e: e["registration_no"]):
        versions = list(group)
        for previous, entry in zip([None, *versions], versions, strict=False):
            at = datetime.fromisoformat(entry["registered_at"])
            qr_text = entry["match"]["qr_text"]
            if previous is None:
                change = store.register(Record.from_json(entry["record"]), qr_text, ACTOR, at)
            else:
                change = store.correct(Record.from_json(entry["record"]), qr_text, previous["reason"], ACTOR, at,
                                       entry["issuer"])
            assert change.outcome is Outcome.CREATED, change
        last = versions[-1]
        if State(last["state"]) in CHANGED_BY_STATUS:
            since = datetime.fromisoformat(last["since"])
            change = store.change_status(registration_no, State(last["state"]), last["reason"], ACTOR, since,
                                         last["issuer"], since=since)
            assert change.outcome is Outcome.CHANGED, change


@pytest.mark.parametrize("name", sorted(CASES))
def test_online_verdict_vector(name: str, trust: TrustList, redis_url: str, tmp_path: Path) -> None:
    case = CASES[name]
    registry = case["registry"]
    if registry["unavailable"] is not None:
        store = Store(f"unix://{tmp_path}/no-redis.sock", timeout=0.5)  # nothing listens there
    else:
        store = Store(redis_url)
        realise(store, registry)
        for entry in registry["entries"]:
            assert registry_entry(store.get(entry["registration_no"], entry["version"])) == entry_from_doc(entry)
    resolution = resolve(case["qr_text"], trust, store, datetime.fromisoformat(case["now"]))
    assert resolution.answer.to_json() == case["expected"]["answer"]
    assert resolution.store_down == (registry["unavailable"] is not None)
