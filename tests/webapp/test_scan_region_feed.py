"""The regional status feed a phone syncs (GET /api/v1/status-feed?region=): only the region's certificates,
the region inside the signed page, cursors continuing as for the whole feed; the laptop scanner's page check
still takes the whole feed's pages as before.
"""

from __future__ import annotations

import json

from keys.algorithms import PublicKey
from keys.feed import verify_page
from keys.trustlist import SignedTrustList
from scanner.offline import check_page


def pages(service, query: str) -> list[dict]:
    trust = SignedTrustList.loads(service.get("/api/v1/trust-list")[2]).verify(
        PublicKey.from_pem((service.data_dir / "trust" / "root.pub.pem").read_bytes()))
    since, out = "0", []
    while True:
        status, _, body = service.get(f"/api/v1/status-feed?since={since}&limit=7{query}")
        assert status == 200, body
        page = verify_page(json.loads(body), trust)  # signed as the whole feed's pages are
        out.append(page)
        since = page["next"]
        if not page["more"]:
            return out


def test_a_regional_feed_holds_only_its_regions_certificates(service):
    everything = {c["registration_no"] for c in service.manifest()["certificates"]}
    regional = pages(service, "&region=2101")
    assert all(p["region"] == "2101" for p in regional)
    numbers = {e["registration_no"] for p in regional for e in p["entries"]}
    assert numbers == {n for n in everything if n.startswith("辽A-")}
    province = {e["registration_no"] for p in pages(service, "&region=21") for e in p["entries"]}
    assert province == everything
    assert {e["registration_no"] for p in pages(service, "&region=22") for e in p["entries"]} == set()
    national = pages(service, "")
    assert all("region" not in p for p in national)
    assert regional[-1]["next"] == national[-1]["next"]  # one cursor space: the region's stretch read is the feed's
    since = "0"
    for page in national:  # crane-scan's check of a page is unchanged
        since = check_page(page, since).next


def test_a_bad_region_is_refused_with_a_sentence(service):
    for region in ("2", "210", "21a", "%EF%BC%92%EF%BC%91", "21010000", ""):
        status, _, body = service.get(f"/api/v1/status-feed?since=0&region={region}")
        assert status == 400, region
        assert b"bad_region" in body and "行政区划代码" in body.decode()
