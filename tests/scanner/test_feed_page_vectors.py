"""docs/test-vectors/feed-pages.json through crane-scan's page check (the phone runs the same file in
webapp/test/core-feed-vectors.test.js): a page is accepted only for the region it names."""

from __future__ import annotations

import base64
import json

import pytest

from keys.algorithms import PublicKey
from keys.feed import verify_page
from keys.trustlist import SignedTrustList
from scanner.offline import PageError, check_page
from tests.keys.vectors import OUT_DIR

VECTORS = json.loads((OUT_DIR / "feed-pages.json").read_text("utf-8"))
TRUST = SignedTrustList.loads((OUT_DIR / VECTORS["trust_list"]).read_bytes()).verify(
    PublicKey.from_spki(base64.b64decode(VECTORS["root_public_key"])))


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_feed_page_vector(case: dict) -> None:
    page = verify_page(case["document"], TRUST)
    expected = case["expected"]
    if not expected["accepted"]:
        with pytest.raises(PageError):
            check_page(page, case["since"], case["region"])
        return
    checked = check_page(page, case["since"], case["region"])
    assert (len(checked.entries), checked.next, checked.more) == (expected["entries"], expected["next"],
                                                                  expected["more"])


def test_the_vectors_hold_the_cases_the_rule_is_about() -> None:
    names = {c["name"] for c in VECTORS["cases"]}
    assert {"national", "regional", "regional-as-national", "empty-regional-as-national"} <= names
