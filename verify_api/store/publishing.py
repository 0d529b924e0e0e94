"""The status feed and the audit log: what the registry appends after each change, and the cursors that
read them.

Every audit entry goes to the operator's stream, which holds all of them, and to the audit stream of each
issuer it concerns: the one whose token acted, and the owner of a certificate another authority tried to
touch. An issuer's view is read from its own stream, so a page is never used up by other issuers' entries
and its cursor always moves on. Entries of one change are appended in one write; a retried write at worst
repeats an entry, it never leaves a stream out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from keys.answer import State

from .. import issuer_token, keyspace
from .results import AuditEntry, FeedEntry
from .transport import Op, StorePart


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def flat(fields: dict[str, Any]) -> list[Any]:
    return [part for pair in fields.items() for part in pair]


def feed_op(registration_no: str, version: int, state: State, reason: str, since: str, superseded_by: int | None,
            record_no: str, registered_at: str) -> Op:
    return Op.command("XADD", keyspace.feed(), "*", *flat({
        "r": registration_no, "v": version, "s": state.value, "reason": reason, "since": since,
        "by": superseded_by or "", "rec": record_no, "reg": registered_at}))


def audit_ops(actor: str, action: str, registration_no: str, now: datetime, before: Any, after: Any,
              owner: str | None = None) -> list[Op]:
    """One entry, appended to the operator's stream and to the stream of each issuer it concerns."""
    fields = flat({"actor": actor, "action": action, "r": registration_no, "at": iso(now),
                   "before": json.dumps(before, ensure_ascii=False), "after": json.dumps(after, ensure_ascii=False)})
    readers = sorted({code for code in (issuer_token.issuer_of(actor), owner) if code})
    keys = [keyspace.audit(), *(keyspace.issuer_audit(code) for code in readers)]
    return [Op.command("XADD", key, "*", *fields) for key in keys]


def _start(after: str) -> str:
    """XRANGE's start for the entries after a cursor ("0" or "" for the first page)."""
    return "(" + after if after not in ("0", "0-0", "") else "-"


class Publishing(StorePart):
    def feed(self, after: str = "0", count: int = 500) -> list[FeedEntry]:
        rows = self.transport.read(lambda r: r.xrange(keyspace.feed(), _start(after), "+", count=count))
        return [FeedEntry(cursor=i, registration_no=f["r"], version=int(f["v"]), state=State(f["s"]),
                          reason=f.get("reason", ""), since=f["since"],
                          superseded_by=int(f["by"]) if f.get("by") else None, record_no=f.get("rec", ""),
                          registered_at=f.get("reg", ""))
                for i, f in rows]

    def audit(self, after: str = "0", count: int = 500, issuer: str | None = None) -> list[AuditEntry]:
        """The entries after a cursor: the issuer's own view, or with no issuer the operator's complete log.

        The ids of an issuer's stream are its own (an entry has another id in the operator's stream).
        """
        key = keyspace.audit() if issuer is None else keyspace.issuer_audit(issuer)
        rows = self.transport.read(lambda r: r.xrange(key, _start(after), "+", count=count))
        return [AuditEntry(i, f["actor"], f["action"], f["r"], f["at"], json.loads(f["before"]),
                           json.loads(f["after"])) for i, f in rows]

    def record_denied(self, actor: str, action: str, registration_no: str, now: datetime, why: str,
                      owner: str) -> None:
        """Refused attempts are audited too, where both the one who tried and the owner can read them."""
        self.transport.write(audit_ops(actor, action + ":denied", registration_no, now, None,
                                       {"denied": why, "owner": owner}, owner=owner))
