"""docs/test-vectors/merge.json through crane-scan's online merge (the phone runs the same file in
webapp/test/core-merge-vectors.test.js): the vectors hold what scanner/online.py decides, and keep holding it."""

from __future__ import annotations

import json

import pytest

from tests.keys.vectors import OUT_DIR

from .merge_vectors import MERGE_FILE, merged

VECTORS = json.loads((OUT_DIR / MERGE_FILE).read_text("utf-8"))


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_merge_vector(case: dict) -> None:
    assert merged(case["service"], case["local"]) == case["expected"]


def test_the_vectors_hold_the_cases_the_rule_is_about() -> None:
    by_name = {c["name"]: c["expected"] for c in VECTORS["cases"]}
    assert by_name["local-unknown-key-wins-over-valid"]["answer"]["verdict"]["ok"] is False
    assert by_name["feed-revoked-wins"]["answer"]["status"]["state"] == "revoked"
    assert by_name["signed-fields-shown"]["answer"]["certificate"]["equipment"]["factory_serial"] == "TC-2025-0456"
    assert by_name["service-verdict-disagrees"] == {"unreachable": True}
