"""API tokens: made, revoked and checked; only the SHA-256 of a secret is stored.

A token acts for one role: an issuer (scope: its division code, the issuer API), an inspector or a
supervisor (scope: a region, a division-code prefix; the inspection API and pages). Tokens made before
roles existed carry no role and are issuer tokens. A token may carry an expiry, checked against the
caller's clock; inspector and supervisor tokens always do.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .. import keyspace
from ..issuer_token import IssuerToken, parse
from .publishing import audit_ops, flat, iso
from .transport import Op, StorePart

# Checked in place of a text that is no token, so that a refusal costs what a real check costs.
_NO_TOKEN = IssuerToken("0" * 12, "x" * 43)


class Role(StrEnum):
    ISSUER = "issuer"
    INSPECTOR = "inspector"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Principal:
    """Whom a live token acts for. `scope` is the issuer code, or the region of an inspector or supervisor."""

    token_id: str
    role: Role
    scope: str
    name: str = ""
    expires_at: datetime | None = None
    personal_data: bool = False  # a supervisor who may read inspectors' names and numbers unmasked


class Tokens(StorePart):
    def create_token(self, issuer: str, now: datetime, note: str = "", *, role: Role = Role.ISSUER, name: str = "",
                     expires_at: datetime | None = None, personal_data: bool = False) -> tuple[str, str]:
        """A new bearer token: (token_id, token text). `issuer` is the scope: issuer code or region."""
        token = IssuerToken.new()
        fields = {"issuer": issuer, "sha256": token.digest(), "created_at": iso(now), "note": note, "revoked": ""}
        if role is not Role.ISSUER:
            fields.update(role=role.value, name=name, personal="1" if personal_data else "")
        if expires_at is not None:
            fields["expires_at"] = iso(expires_at)
        self.transport.write([Op.command("HSET", keyspace.token(token.token_id), *flat(fields))])
        self.transport.write(audit_ops("operator", "token:create", "", now, None,
                                       {"token_id": token.token_id, "issuer": issuer, "role": role.value}))
        return token.token_id, token.text()

    def revoke_token(self, token_id: str, now: datetime) -> bool:
        key = keyspace.token(token_id)
        if not self.transport.read(lambda r: r.exists(key)):
            return False
        self.transport.write([Op.command("HSET", key, "revoked", iso(now))])
        self.transport.write(audit_ops("operator", "token:revoke", "", now, None, {"token_id": token_id}))
        return True

    def check_token(self, text: str, now: datetime) -> tuple[str, str] | None:
        """(token_id, issuer) for a live issuer token, else None. The secret is compared in constant time."""
        found = self.principal(text, now)
        return (found.token_id, found.scope) if found is not None and found.role is Role.ISSUER else None

    def principal(self, text: str, now: datetime) -> Principal | None:
        """Whom a live token acts for, any role; None for a wrong, revoked or expired one."""
        token = parse(text)
        if token is None:
            _NO_TOKEN.digest()  # keep the refusal's cost close to a real check's
            return None
        data = self.transport.read(lambda r: r.hgetall(keyspace.token(token.token_id)))
        matches = hmac.compare_digest(data.get("sha256", "0" * 64), token.digest())
        return _live(token.token_id, data, now) if matches else None

    def principal_by_id(self, token_id: str, now: datetime) -> Principal | None:
        """The live token with this id, its secret not asked for: for a session that the token opened."""
        return _live(token_id, self.transport.read(lambda r: r.hgetall(keyspace.token(token_id))), now)


def _live(token_id: str, data: dict[str, str], now: datetime) -> Principal | None:
    if not data or data.get("revoked"):
        return None
    expires_at = datetime.fromisoformat(data["expires_at"]) if data.get("expires_at") else None
    if expires_at is not None and now >= expires_at:
        return None
    return Principal(token_id, Role(data.get("role") or Role.ISSUER.value), data["issuer"], data.get("name", ""),
                     expires_at, data.get("personal") == "1")
