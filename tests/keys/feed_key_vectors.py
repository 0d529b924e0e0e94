"""Feed-key vectors (docs/test-vectors/feed-keys.json): which feed keys of the vector trust list may have
signed a status-feed page, judged at the page's signed generated_at as an issuer key is judged at a
certificate's signing time. Written by tests/keys/vectors.py beside the payload vectors.

A retired feed key signs nothing from its retirement on, and a key valid for 2025 only signs no page of
2026: a page it signed then is refused by every implementation (keys/feed.py verify_page,
webapp/src/core/feed.js verifyFeedPage). A page no key can have signed (a lone surrogate, which JSON
parsers accept but UTF-8 cannot encode) is refused too, never a crash. Each document is given as JSON text,
so that case can be written at all. Ed25519 keys only: regenerating reproduces the file byte for byte.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from keys.algorithms import Alg
from keys.feed import sign_page

FEED_KEYS_FILE = "feed-keys.json"


def feed_keys_doc(vectors: Any) -> dict[str, Any]:
    """`vectors` is tests.keys.vectors (its key derivation, times and file names)."""

    def page(generated_at: datetime) -> dict[str, Any]:
        return {"format": 1, "since": "0", "next": "1-0", "more": False,
                "generated_at": generated_at.isoformat(timespec="seconds"),
                "entries": [{"cursor": "1-0", "registration_no": "辽A-SY-2025-00456", "version": 1,
                             "state": "revoked", "reason": "撤销 / revoked", "since": None, "superseded_by": None,
                             "record_no": "", "registered_at": None}]}

    def case(name: str, description: str, label: str, generated_at: datetime, accepted: bool,
             change: tuple[str, str] | None = None) -> dict[str, Any]:
        text = json.dumps(sign_page(page(generated_at), vectors.derive_key(label, Alg.EDDSA)), ensure_ascii=False)
        if change:
            text = text.replace(*change)
        return {"name": name, "description": description, "key": label, "document": text,
                "expected": {"accepted": accepted}}

    now = datetime(2026, 11, 24, 9, 0, tzinfo=vectors.CST)
    retired, limited = "feed-210100-ed25519-retired-at", "feed-210100-ed25519-2025-only"
    return {
        "vector_format": vectors.VECTOR_FORMAT,
        "description": "Signed status-feed pages (each document as JSON text) and whether a verifier accepts "
                       "them against the vector trust list: the feed key must be listed with role feed, not "
                       "compromised, and valid at the page's signed generated_at (not at or after its "
                       "retired_at, not before not_before, not after not_after).",
        "trust_list": vectors.TRUST_LIST_FILE,
        "root_public_key": vectors.key_doc(vectors.ROOT)["public_key"],
        "cases": [
            case("active-key", "A page of today by the active feed key: accepted.", "feed-210100-ed25519", now, True),
            case("retired-key-before-retirement", "A page generated the day before its key's retirement: it "
                 "stands.", retired, vectors.RETIRED_AT - timedelta(days=1), True),
            case("retired-key-at-retirement", "A page generated at the moment its key retired: refused.", retired,
                 vectors.RETIRED_AT, False),
            case("retired-key-after-retirement", "A page of today by a key retired in 2025: refused, or whoever "
                 "kept the retired key could serve any state forever.", retired, now, False),
            case("key-valid-in-2025-only-in-2025", "A page of 2025 by a key valid during 2025 only: accepted.",
                 limited, datetime(2025, 6, 1, tzinfo=vectors.CST), True),
            case("key-valid-in-2025-only-after", "A page of 2026 by a key valid during 2025 only: refused.",
                 limited, now, False),
            case("key-valid-in-2025-only-before", "A page of 2024 by a key valid from 2025 only: refused.",
                 limited, datetime(2024, 12, 31, tzinfo=vectors.CST), False),
            case("lone-surrogate", "A page whose text holds a lone surrogate (\\ud800): no key can have signed "
                 "it: refused, never a crash.", "feed-210100-ed25519", now, False,
                 ("撤销 / revoked", "\\ud800")),
        ],
    }
