"""Issuer API tokens: made, revoked and checked; only the SHA-256 of a secret is stored."""

from __future__ import annotations

import hmac
from datetime import datetime

from .. import keyspace
from ..issuer_token import IssuerToken, parse
from .publishing import audit_ops, flat, iso
from .transport import Op, StorePart

# Checked in place of a text that is no token, so that a refusal costs what a real check costs.
_NO_TOKEN = IssuerToken("0" * 12, "x" * 43)


class Tokens(StorePart):
    def create_token(self, issuer: str, now: datetime, note: str = "") -> tuple[str, str]:
        """A new bearer token for an issuer: (token_id, token text)."""
        token = IssuerToken.new()
        self.transport.write([Op.command("HSET", keyspace.token(token.token_id), *flat({
            "issuer": issuer, "sha256": token.digest(), "created_at": iso(now), "note": note, "revoked": ""}))])
        self.transport.write(audit_ops("operator", "token:create", "", now, None,
                                       {"token_id": token.token_id, "issuer": issuer}))
        return token.token_id, token.text()

    def revoke_token(self, token_id: str, now: datetime) -> bool:
        key = keyspace.token(token_id)
        if not self.transport.read(lambda r: r.exists(key)):
            return False
        self.transport.write([Op.command("HSET", key, "revoked", iso(now))])
        self.transport.write(audit_ops("operator", "token:revoke", "", now, None, {"token_id": token_id}))
        return True

    def check_token(self, text: str) -> tuple[str, str] | None:
        """(token_id, issuer) for a live token, else None. The secret is compared in constant time."""
        token = parse(text)
        if token is None:
            _NO_TOKEN.digest()  # keep the refusal's cost close to a real check's
            return None
        data = self.transport.read(lambda r: r.hgetall(keyspace.token(token.token_id)))
        expected = data.get("sha256", "0" * 64)
        matches = hmac.compare_digest(expected, token.digest())
        if not data or not matches or data.get("revoked"):
            return None
        return token.token_id, data["issuer"]
