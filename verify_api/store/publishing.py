"""The status feed and the audit log: what the registry appends after each change, and the cursors that
read them.

Every audit entry (a change) goes to the operator's stream, which holds all of them, and to the audit
stream of the issuer whose token acted. An issuer's view is read from its own stream, so a page is never
used up by other issuers' entries and its cursor always moves on. Entries of one change are appended in one
write; a retried write at worst repeats an entry, it never leaves a stream out. Nothing trims these streams.

A refused attempt (403: another authority's certificate) is no change: it goes to the refusals log instead,
the operator's and those of the owner and of the issuer that tried, each trimmed on every append to the
retention (CRANE_LOG_RETENTION_DAYS). Their ids are the refusal's time, so a clock given as a parameter
decides what is old, and a refusal is never trimmed by its own append.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from keys.answer import State

from .. import issuer_token, keyspace
from .results import AuditEntry, FeedEntry, Refusal
from .transport import Op, Script, StorePart


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def flat(fields: dict[str, Any]) -> list[Any]:
    return [part for pair in fields.items() for part in pair]


def feed_op(registration_no: str, version: int, state: State, reason: str, since: str, superseded_by: int | None,
            record_no: str, registered_at: str) -> Op:
    return Op.command("XADD", keyspace.feed(), "*", *flat({
        "r": registration_no, "v": version, "s": state.value, "reason": reason, "since": since,
        "by": superseded_by or "", "rec": record_no, "reg": registered_at}))


def audit_ops(actor: str, action: str, registration_no: str, now: datetime, before: Any, after: Any) -> list[Op]:
    """One change, appended to the operator's stream and to the stream of the issuer that made it."""
    fields = flat({"actor": actor, "action": action, "r": registration_no, "at": iso(now),
                   "before": json.dumps(before, ensure_ascii=False), "after": json.dumps(after, ensure_ascii=False)})
    issuer = issuer_token.issuer_of(actor)
    keys = [keyspace.audit(), *([keyspace.issuer_audit(issuer)] if issuer else [])]
    return [Op.command("XADD", key, "*", *fields) for key in keys]


# KEYS: a refusals stream. ARGV: the refusal's time and the oldest time kept (ms since the epoch), then the
# entry's fields as name, value, ... The id is the refusal's time (after the stream's last id if the clock
# went back), so MINID drops what is older than the retention and never the entry just appended.
# The id is worked out here rather than with `<ms>-*`, which Redis 6.2 does not take.
APPEND_REFUSAL = Script("""
local ms, seq = ARGV[1], 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local last_ms, last_seq = string.match(info[i + 1], '^(%d+)-(%d+)$')
      if tonumber(last_ms) >= tonumber(ms) then ms, seq = last_ms, tonumber(last_seq) + 1 end
    end
  end
end
return redis.call('XADD', KEYS[1], 'MINID', ARGV[2], ms .. '-' .. seq, unpack(ARGV, 3))
""")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


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
                      owner: str, retention: timedelta) -> None:
        """A refused attempt, in the refusals log where the operator, the owner and the one who tried read
        it; each stream appended to drops its entries older than `retention` before `now`."""
        fields = flat({"actor": actor, "action": action, "r": registration_no, "at": iso(now), "reason": why,
                       "owner": owner})
        readers = sorted({code for code in (issuer_token.issuer_of(actor), owner) if code})
        keys = [keyspace.refusals(), *(keyspace.refusals(code) for code in readers)]
        args = [_ms(now), _ms(now - retention), *fields]
        self.transport.write([Op.call(APPEND_REFUSAL, [key], args) for key in keys])

    def refusals(self, after: str = "0", count: int = 500, issuer: str | None = None) -> list[Refusal]:
        """The refused attempts after a cursor, within the retention: one issuer's, or with no issuer all."""
        key = keyspace.refusals(issuer)
        rows = self.transport.read(lambda r: r.xrange(key, _start(after), "+", count=count))
        return [Refusal(i, f["actor"], f["action"], f["r"], f["at"], f["reason"], f["owner"]) for i, f in rows]
