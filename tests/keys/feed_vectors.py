"""Feed-page vectors (docs/test-vectors/feed-pages.json): which signed status-feed pages a scanner accepts
for the region it asked for. Written by tests/keys/vectors.py beside the payload vectors.

A regional page (GET /api/v1/status-feed?region=) leaves out every other region's entries and its `next`
may lie past its last entry, so offered in place of the whole feed it would skip revocations: every
implementation (scanner/offline.py check_page, webapp/src/core/feed.js checkFeedPage) must refuse a page
whose signed region is not the one asked for (None: the whole feed). Signed with the Ed25519 feed test key,
so regenerating reproduces the file byte for byte.
"""

from __future__ import annotations

from typing import Any

from keys.algorithms import Alg
from keys.feed import sign_page

FEED_PAGES_FILE = "feed-pages.json"
FEED_KEY = "feed-210100-ed25519"
GENERATED_AT = "2026-11-24T01:00:00+00:00"
SHENYANG, DALIAN = "辽A-SY-2025-00456", "辽B-DL-2025-00459"  # issuers 210100 and 210200 of the vector list


def _entry(cursor: str, registration_no: str, state: str) -> dict[str, Any]:
    return {"cursor": cursor, "registration_no": registration_no, "version": 1, "state": state,
            "reason": "吊装事故后撤销 / revoked after an accident" if state == "revoked" else "",
            "since": "2026-11-20T02:00:00+00:00", "superseded_by": None, "record_no": "",
            "registered_at": "2025-03-01T02:00:00+00:00"}


def _page(entries: list[dict[str, Any]], following: str, region: str | None = None) -> dict[str, Any]:
    page = {"format": 1, "since": "0", "next": following, "more": False, "generated_at": GENERATED_AT}
    if region is not None:
        page["region"] = region
    page["entries"] = entries
    return page


def feed_pages_doc(vectors: Any) -> dict[str, Any]:
    """`vectors` is tests.keys.vectors (its key derivation and file names)."""
    key = vectors.derive_key(FEED_KEY, Alg.EDDSA)
    everything = [_entry("1-0", SHENYANG, "valid"), _entry("2-0", DALIAN, "valid"), _entry("3-0", DALIAN, "revoked")]
    national = _page(everything, "3-0")
    shenyang = _page(everything[:1], "3-0", "2101")
    elsewhere = _page([], "3-0", "22")  # every entry filtered out, `next` far ahead: the revocation skipped
    skipping = _page(everything[:1], "3-0")

    def case(name: str, description: str, page: dict[str, Any], region: str | None, accepted: bool) -> dict[str, Any]:
        expected: dict[str, Any] = {"accepted": accepted}
        if accepted:
            expected |= {"entries": len(page["entries"]), "next": page["next"], "more": page["more"]}
        return {"name": name, "description": description, "since": "0", "region": region,
                "document": sign_page(page, key), "expected": expected}

    return {
        "vector_format": vectors.VECTOR_FORMAT,
        "description": "Signed status-feed pages and the region they are asked for (null: the whole feed, as "
                       "crane-scan syncs). Verify the document against the vector trust list (its feed key "
                       f"{FEED_KEY}), then check it as the continuation of the feed at `since` for `region`: the "
                       "signed page must name exactly the region asked for. Accepted pages give entries, next "
                       "and more as listed.",
        "trust_list": vectors.TRUST_LIST_FILE,
        "root_public_key": vectors.key_doc(vectors.ROOT)["public_key"],
        "cases": [
            case("national", "A page of the whole feed asked for the whole feed.", national, None, True),
            case("regional", "A page for region 2101 (沈阳) asked for 2101: the region's entry only, `next` the "
                 "last entry of the stretch read.", shenyang, "2101", True),
            case("regional-as-national", "The 2101 page offered where the whole feed was asked: refused, or "
                 "大连's revocation would be skipped.", shenyang, None, False),
            case("empty-regional-as-national", "A page for region 22 with every entry filtered out and `next` "
                 "past the revocation, offered as the whole feed: refused.", elsewhere, None, False),
            case("national-as-regional", "A page of the whole feed offered where region 2101 was asked.",
                 national, "2101", False),
            case("other-region", "The 2101 page offered where region 2102 was asked.", shenyang, "2102", False),
            case("national-next-skips", "A page of the whole feed whose `next` lies past its last entry.",
                 skipping, None, False),
        ],
    }
