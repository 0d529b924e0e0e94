"""What an issuer API token looks like: `crv_<id>_<secret>`, and whom it acts as in the audit log.

The id (12 lower-case hex digits) names the token's hash in the store and may be shown (audit actors carry
it); the secret (43 URL-safe characters, 32 random bytes) is shown once, when the token is made, and only
its SHA-256 is stored. The service's token check and the bad-token rate-limit key both read a presented
token through `parse`, so they agree on which id a text names.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

PREFIX = "crv"
_ID_CHARS = frozenset("0123456789abcdef")
_ID_LENGTH = 12
_SECRET_MAX = 100  # a real secret has 43 characters; a longer text is not worth hashing


@dataclass(frozen=True)
class IssuerToken:
    token_id: str
    secret: str = field(repr=False)

    @classmethod
    def new(cls) -> IssuerToken:
        return cls(secrets.token_hex(_ID_LENGTH // 2), secrets.token_urlsafe(32))

    def text(self) -> str:
        """What the holder presents as `Authorization: Bearer <text>`."""
        return f"{PREFIX}_{self.token_id}_{self.secret}"

    def digest(self) -> str:
        """What the store keeps of the secret."""
        return hashlib.sha256(self.secret.encode("utf-8")).hexdigest()


def parse(text: str) -> IssuerToken | None:
    """The token a text names, or None when it is not in the token format (the secret may hold '_')."""
    prefix, _, rest = text.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(token_id) != _ID_LENGTH or not _ID_CHARS.issuperset(token_id):
        return None
    if not 0 < len(secret) <= _SECRET_MAX:
        return None
    return IssuerToken(token_id, secret)


def presented(authorization: str) -> str | None:
    """The token text of an `Authorization: Bearer <token>` header; None for another scheme or none."""
    scheme, _, text = authorization.partition(" ")
    return text.strip() if scheme.lower() == "bearer" else None


def actor(issuer: str, token_id: str) -> str:
    """The actor a token's changes are audited under: `issuer:<code>:<token id>`."""
    return f"issuer:{issuer}:{token_id}"


def issuer_of(actor: str) -> str | None:
    """The issuer code of an actor made by `actor`; None for the operator's (`operator`, `operator:cli`)."""
    kind, _, rest = actor.partition(":")
    code = rest.partition(":")[0]
    return code or None if kind == "issuer" else None
