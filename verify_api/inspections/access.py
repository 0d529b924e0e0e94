"""Supervisors' page sessions and the one-time enrolment codes that hand a token to a phone.

A session cookie holds a random id; Redis keeps only its SHA-256 with the token it was opened with, a
CSRF token and an expiry (a Redis TTL, and the moment itself checked against the service's clock). The
token is looked up again on every request, so revoking it ends its sessions.

An enrolment code is 128 random bits in base32 (QR alphanumeric). Redis keeps the token sealed with
AES-GCM under a key derived from the code, at the SHA-256 of the code: what Redis holds cannot give the
token without the code, and GETDEL makes the exchange work once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .. import keyspace
from ..store.publishing import flat, iso
from ..store.tokens import Principal, Tokens
from ..store.transport import Op, StorePart

SESSION_TTL = timedelta(hours=8)
ENROLMENT_TTL = timedelta(minutes=10)
_CODE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
CODE_LENGTH = 26


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str


class Sessions(StorePart):
    def open(self, principal: Principal, now: datetime, ttl: timedelta = SESSION_TTL) -> tuple[str, str]:
        """A new session for a live token: (cookie value, CSRF token)."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        key = keyspace.session(_digest(sid))
        ends = now + ttl
        if principal.expires_at is not None:
            ends = min(ends, principal.expires_at)
        self.transport.write([Op.command("HSET", key, *flat({"token_id": principal.token_id, "csrf": csrf,
                                                             "expires_at": iso(ends)})),
                              Op.command("EXPIRE", key, max(int((ends - now).total_seconds()), 1))])
        return sid, csrf

    def get(self, sid: str, now: datetime) -> Session | None:
        if not sid or len(sid) > 100:
            return None
        data = self.transport.read(lambda r: r.hgetall(keyspace.session(_digest(sid))))
        if not data or now >= datetime.fromisoformat(data["expires_at"]):
            return None
        principal = Tokens(self.transport).principal_by_id(data["token_id"], now)
        return Session(principal, data["csrf"]) if principal is not None else None

    def close(self, sid: str) -> None:
        self.transport.write([Op.command("DEL", keyspace.session(_digest(sid)))])


class Enrolments(StorePart):
    def create(self, token_text: str, now: datetime, ttl: timedelta = ENROLMENT_TTL) -> str:
        """A one-time code that gives `token_text` back once within `ttl`."""
        code = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(_key(code)).encrypt(nonce, token_text.encode("utf-8"), b"crane-enrolment")
        value = json.dumps({"sealed": base64.b64encode(nonce + sealed).decode("ascii"), "expires_at": iso(now + ttl)})
        self.transport.write([Op.command("SET", keyspace.enrolment(_digest(code)), value, "EX",
                                         int(ttl.total_seconds()))])
        return code

    def redeem(self, code: str, now: datetime) -> str | None:
        """The token sealed under the code, once; None for a code unknown, used or expired."""
        code = code.strip().upper()
        if len(code) != CODE_LENGTH or not _CODE_CHARS.issuperset(code):
            return None
        # A write, so it ends in WAIT: a code used but not yet on a replica could be used again after a failover.
        [value] = self.transport.write([Op.command("GETDEL", keyspace.enrolment(_digest(code)))])
        if value is None:
            return None
        data = json.loads(value)
        if now >= datetime.fromisoformat(data["expires_at"]):
            return None
        raw = base64.b64decode(data["sealed"])
        try:
            return AESGCM(_key(code)).decrypt(raw[:12], raw[12:], b"crane-enrolment").decode("utf-8")
        except InvalidTag:
            return None


def _key(code: str) -> bytes:
    return hashlib.sha256(b"crane-enrolment-key\x00" + code.encode("ascii")).digest()


def enrolment_qr_text(public_url: str, code: str) -> str:
    """`HTTPS://<HOST>/E/<CODE>`: upper case throughout, so all of it fits QR alphanumeric mode."""
    return f"{public_url.rstrip('/').upper()}/E/{code}"


def code_of(text: str) -> str:
    """The code in an enrolment QR text, or the text itself when it is a bare code."""
    return text.strip().upper().rsplit("/E/", 1)[-1]
