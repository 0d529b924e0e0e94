"""Signed pages of the status feed: what an offline scanner trusts about every certificate's state.

A page is canonical JSON signed by a trust-list key of role `feed`, so a copy passed around on a USB stick
is as good as one fetched from the service, and a page from anyone else is refused.
"""

from __future__ import annotations

import base64
from typing import Any

from .algorithms import PrivateKey
from .errors import CraneError
from .trustlist import KeyRole, KeyState, TrustList, canonical_json, signed_message

_DOMAIN = b"crane-status-feed-v1\x00"


class FeedError(CraneError):
    """A feed page is malformed or its signature does not check against a trusted feed key."""


def sign_page(page: dict[str, Any], key: PrivateKey) -> dict[str, Any]:
    signature = key.sign(_DOMAIN + canonical_json(page))
    return {"page": page, "kid": key.public_key().kid, "alg": key.alg.value,
            "sig": base64.b64encode(signature).decode("ascii")}


def verify_page(document: Any, trust: TrustList) -> dict[str, Any]:
    try:
        page, kid, sig = document["page"], document["kid"], base64.b64decode(document["sig"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise FeedError("not a signed feed page") from None
    if not isinstance(page, dict) or not isinstance(kid, str):
        raise FeedError("not a signed feed page")
    message = signed_message(_DOMAIN, page)
    if message is None or not any(k.public_key.verify(sig, message) for k in trust.keys_for(kid, KeyRole.FEED)
               if k.state is not KeyState.COMPROMISED):
        raise FeedError(f"feed page signature does not check against a trusted feed key ({kid})")
    return page
