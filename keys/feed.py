"""Signed pages of the status feed: what an offline scanner trusts about every certificate's state.

A page is canonical JSON signed by a trust-list key of role `feed`, so a copy passed around on a USB stick
is as good as one fetched from the service, and a page from anyone else is refused.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from .algorithms import PrivateKey
from .answer import SignatureResult
from .errors import CraneError
from .trustlist import KeyRole, KeyState, TrustedKey, TrustList, canonical_json, signed_message

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
    keys = [k for k in trust.keys_for(kid, KeyRole.FEED) if k.state is not KeyState.COMPROMISED]
    signer = None if message is None else next((k for k in keys if k.public_key.verify(sig, message)), None)
    if signer is None:
        raise FeedError(f"feed page signature does not check against a trusted feed key ({kid})")
    if not _in_service(signer, page.get("generated_at")):
        raise FeedError(f"feed page generated_at is outside the validity of feed key {kid}")
    return page


def _in_service(key: TrustedKey, generated_at: Any) -> bool:
    """Whether the key could sign a page at its signed generated_at: a retired or expired feed key's pages
    are refused from its retirement on, as an issuer key's signatures are (TrustedKey.judge). A page
    without a readable time is left to the page check, which refuses it (scanner/offline.py check_page)."""
    try:
        moment = datetime.fromisoformat(generated_at) if isinstance(generated_at, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        return True
    return key.judge(moment) is SignatureResult.VALID
