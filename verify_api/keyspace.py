"""Every Redis key the service uses, made by one function per entity.

Keys that must change together carry the same hash tag ({...}), so the same code runs on Redis Cluster:
all keys of one registration number share its slot; the status feed, the operator's audit log and each
issuer's audit stream are one stream each, so each stays in order.

The rules the store keeps on a cluster (tests/cluster runs it on one):
- a script gets only the keys of one registration (`certificate`, `version`, `history`); the version key
  it derives inside (`KEYS[1] .. ':v' .. latest`) is `version()` of the same number, so the same slot;
- every other write is a single-key command (SET of a licence, XADD to the feed or an audit stream, HSET
  of a token; the refusals script touches its one stream); a pipeline may mix slots, because the store sends one pipeline per master, never MULTI/EXEC;
- nothing reads or writes two registrations in one command.
The feed and the audit stream each live on one master: every change appends to both (and to its issuer's
audit stream), which is fine at issuers' write rates (see docs/deployment.md) and is what keeps each of
them in one order.
Flask-Limiter's counters are its own single-key entries (`LIMITS:LIMITER/crane-limits/...`).
"""

from __future__ import annotations

PREFIX = "crane"
LIMITER_PREFIX = "crane-limits"  # Flask-Limiter makes its counters' keys itself, under this prefix


def certificate(registration_no: str) -> str:
    """Hash: latest version, state of the registration as a whole, record_no for lookups."""
    return f"{PREFIX}:{{c:{registration_no}}}"


def version(registration_no: str, number: int) -> str:
    """Hash: one version's record, signed payload, state, reason, since, registered_at."""
    return f"{PREFIX}:{{c:{registration_no}}}:v{number}"


def history(registration_no: str) -> str:
    """List: every status event of a registration, oldest first."""
    return f"{PREFIX}:{{c:{registration_no}}}:history"


def licence(licence_id: str) -> str:
    """String: the registration number and version an e-licence identifier names."""
    return f"{PREFIX}:{{l:{licence_id}}}"


def feed() -> str:
    """Stream: every status change in order; replayed from the start it gives every current state."""
    return f"{PREFIX}:{{feed}}"


def audit() -> str:
    """Stream, append-only, the operator's complete log: who changed what, when, before and after."""
    return f"{PREFIX}:{{audit}}"


def issuer_audit(issuer: str) -> str:
    """Stream, append-only: the audit entries of one issuer's own changes, beside the same entries in
    `audit()`. A slot of its own per issuer."""
    return f"{PREFIX}:{{audit:{issuer}}}"


def refusals(issuer: str | None = None) -> str:
    """Stream of refused attempts (403 on another authority's certificate), trimmed by the retention on
    every append: the operator's log with no issuer, else one issuer's (attempts on its certificates and
    its own refused ones). Kept apart from the audit streams so a flood of refusals never grows them."""
    return f"{PREFIX}:{{refusals}}" if issuer is None else f"{PREFIX}:{{refusals:{issuer}}}"


def token(token_id: str) -> str:
    """Hash: an issuer token's issuer code and the SHA-256 of its secret (never the secret)."""
    return f"{PREFIX}:{{t:{token_id}}}"


# --- inspection records (verify_api/inspections/) -------------------------------------------------------
# Every key of one province's inspections shares the tag {i:<2-digit province>}: one script stores a record
# with its indexes and its log entry atomically, and a retried upload is told apart from a new one in the
# same step. A province's inspections thus live on one master, like the feed; see docs/api.md.


def inspection(province: str, inspection_id: str) -> str:
    """Hash: one inspection record (its JSON, flags, who sent it, when), keyed by the client's id."""
    return f"{PREFIX}:{{i:{province}}}:r:{inspection_id}"


def inspections_received(province: str) -> str:
    """Sorted set: the province's inspection ids by receipt time (newest-first lists, retention)."""
    return f"{PREFIX}:{{i:{province}}}:received"


def inspections_of(province: str, registration_no: str) -> str:
    """Sorted set: the ids of one certificate's inspections in the province, by the device's check time."""
    return f"{PREFIX}:{{i:{province}}}:c:{registration_no}"


def inspection_log(province: str) -> str:
    """Stream: every stored inspection in order of receipt, the cursor of GET /api/v1/inspections."""
    return f"{PREFIX}:{{i:{province}}}:log"


def session(digest: str) -> str:
    """Hash with an expiry: a supervisor's page session, keyed by the SHA-256 of the cookie's random id."""
    return f"{PREFIX}:{{s:{digest}}}"


def enrolment(digest: str) -> str:
    """String with an expiry: a token sealed under a one-time enrolment code, keyed by the code's SHA-256."""
    return f"{PREFIX}:{{e:{digest}}}"
