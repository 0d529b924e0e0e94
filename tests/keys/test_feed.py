"""Signed feed pages as keys/feed.py checks them: only a trusted feed key's page is read, and a page no one
could have signed is a FeedError the scanner reports, never a traceback."""

import base64
import json

import pytest

from keys.algorithms import PublicKey
from keys.errors import TrustListError
from keys.feed import FeedError, sign_page, verify_page
from keys.trustlist import SignedTrustList

from .feed_key_vectors import FEED_KEYS_FILE
from .vectors import OUT_DIR

PAGE = {"since": "0", "next": "1-0", "more": False, "generated_at": "2026-11-24T02:00:00+00:00",
        "entries": [{"cursor": "1-0", "registration_no": "辽A-0001", "version": 1, "state": "valid"}]}


def test_a_page_with_a_lone_surrogate_is_a_feed_error(world):
    document = sign_page(PAGE, world.feed_key)
    # json.loads reads "\ud800" into a str that has no UTF-8: no key can have signed it.
    document = json.loads(json.dumps(document, ensure_ascii=False).replace("辽A-0001", "\\ud800"))
    with pytest.raises(FeedError, match="trusted feed key"):
        verify_page(document, world.trust)


def test_a_trust_list_with_a_lone_surrogate_is_a_trust_list_error(world):
    text = world.signed().dumps().decode().replace("沈阳市城乡建设局", "\\ud800")
    with pytest.raises(TrustListError, match="not signed"):
        SignedTrustList.loads(text).verify(world.root.public_key())


VECTORS = json.loads((OUT_DIR / FEED_KEYS_FILE).read_text("utf-8"))
VECTOR_TRUST = SignedTrustList.loads((OUT_DIR / VECTORS["trust_list"]).read_bytes()).verify(
    PublicKey.from_spki(base64.b64decode(VECTORS["root_public_key"])))


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_feed_key_vector(case: dict) -> None:
    """docs/test-vectors/feed-keys.json (the phone runs it in webapp/test/core-feed-keys.test.js)."""
    document = json.loads(case["document"])
    if case["expected"]["accepted"]:
        assert verify_page(document, VECTOR_TRUST) == document["page"]
    else:
        with pytest.raises(FeedError):
            verify_page(document, VECTOR_TRUST)
