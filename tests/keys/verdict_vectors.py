"""The verdict vectors, docs/test-vectors/verdicts.json: QR text + trust list + registry + time -> answer.

tests.keys.vectors writes them with the payload vectors (format: docs/credential-format.md, "Verdict
vectors"). Each case's expected answer is what keys.verdict.answer_code gives over the case's registry,
read by `VectorRegistry`; the generator states the intended signature result, state and ok of every case
and stops when the library answers otherwise. The same file is run by tests/keys (the pure function),
tests/verify_api (a real Redis store through verify_api.resolve) and tests/scanner (a real offline SQLite
cache through scanner.offline), and by the phone app's core under node.

Online entries are made by the service's own adapter (verify_api.resolve.registry_entry) from the
version a Redis store holds after the issuer's steps; `steps` below mirrors what those steps write,
and the service's test replays them on a real store and checks it holds exactly these entries.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import cbor2

from keys import payload
from keys.answer import SignatureResult, Source, State
from keys.identifiers import CRANE_TYPE_CODE, LicenceId
from keys.record import Record
from keys.samples import sample_record
from keys.trustlist import TrustList
from keys.verdict import (
    Lookup,
    Provenance,
    RegistryEntry,
    SamePayload,
    SameRecordNo,
    Unavailable,
    answer_code,
)
from scanner.offline import BY_LICENCE, DEFAULT_MAX_AGE, NOT_IN_DATA, TOO_OLD, china, human_duration
from verify_api.resolve import STORE_DOWN, registry_entry
from verify_api.store import StoredVersion

VERDICTS_FILE = "verdicts.json"
ACTOR = "verdict-vectors"   # who the service's test says made each change
DATA_TIME = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)        # 2026-11-24 02:00 +08:00, eight hours before the check
STALE_DATA_TIME = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)  # fourteen days before


# --- reading a case's registry (the pure test, and the generator itself) ----------------------------------

def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def entry_doc(entry: RegistryEntry, record: dict | None = None) -> dict[str, Any]:
    match = ({"qr_text": entry.match.qr_text} if isinstance(entry.match, SamePayload)
             else {"record_no": entry.match.record_no})
    return {"registration_no": entry.registration_no, "version": entry.version, "state": entry.state.value,
            "reason": entry.reason, "since": _iso(entry.since), "superseded_by": entry.superseded_by,
            "registered_at": _iso(entry.registered_at), "issuer": entry.issuer, "match": match,
            "certificate": entry.certificate, "record": record}


def entry_from_doc(doc: dict[str, Any]) -> RegistryEntry:
    match = doc["match"]
    return RegistryEntry(
        doc["registration_no"], doc["version"], State(doc["state"]),
        SamePayload(match["qr_text"]) if "qr_text" in match else SameRecordNo(match["record_no"]),
        doc["reason"], _time(doc["since"]), doc["superseded_by"], _time(doc["registered_at"]), doc["issuer"],
        doc["certificate"])


class VectorRegistry:
    """A case's `registry` object as keys.verdict's Registry (the rules: docs/credential-format.md)."""

    def __init__(self, doc: dict[str, Any]):
        self.provenance = Provenance(Source(doc["source"]), _time(doc["data_time"]))
        self.entries = {(e["registration_no"], e["version"]): entry_from_doc(e) for e in doc["entries"]}
        self.licences = {item["licence_id"]: (item["registration_no"], item["version"]) for item in doc["licences"]}
        self.unavailable: str | None = doc["unavailable"]
        self.absent: str | None = doc["absent"]
        self.licence_rule: str | None = doc["by_licence"]

    def entry(self, registration_no: str, version: int) -> Lookup:
        if self.unavailable is not None:
            return Unavailable(self.unavailable)
        return self.entries.get((registration_no, version)) or self._absent()

    def by_licence(self, licence_id: LicenceId) -> Lookup:
        if self.licence_rule is not None:
            return Unavailable(self.licence_rule)
        if self.unavailable is not None:
            return Unavailable(self.unavailable)
        found = self.licences.get(str(licence_id))
        return self.entry(*found) if found else self._absent()

    def _absent(self) -> Lookup:
        return None if self.absent is None else Unavailable(self.absent)


# --- building cases ---------------------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    description: str
    mode: str                                  # online | offline
    qr_text: str
    intended: tuple[SignatureResult, State, bool]
    entries: list[tuple[RegistryEntry, dict | None]] = field(default_factory=list)
    unavailable: str | None = None
    data_time: datetime | None = None         # offline only
    max_age: timedelta = DEFAULT_MAX_AGE      # offline only

    def registry(self) -> dict[str, Any]:
        online = self.mode == "online"
        entries = [entry_doc(e, record) for e, record in self.entries]
        licences = [{"licence_id": record["licence_id"], "registration_no": e.registration_no, "version": e.version}
                    for e, record in self.entries if record and record.get("licence_id")]
        data_time = self.data_time
        return {
            "source": (Source.REGISTRY if online else Source.OFFLINE).value,
            "data_time": _iso(data_time),
            "entries": entries,
            "licences": licences,
            "unavailable": self.unavailable,
            "absent": None if online else NOT_IN_DATA.format(t=china(data_time)),
            "by_licence": None if online else BY_LICENCE,
        }


def steps_entry(record: dict, qr_text: str | None, registered_at: datetime, *, state: State | None = None,
                reason: str = "", since: datetime | None = None, superseded_by: int | None = None) -> RegistryEntry:
    """A version as the store holds it after the issuer's steps, made by the service's own adapter.

    Registered: valid (paper_legacy for paper) since its issue date, midnight China time. A status change
    or a correction sets state, reason and since; a version made by a correction is valid since then.
    """
    state = state or (State.PAPER_LEGACY if record.get("paper") else State.VALID)
    since = since or datetime.fromisoformat(f"{record['issued_on']}T00:00:00+08:00")
    return registry_entry(StoredVersion(
        registration_no=record["registration_no"], version=record["version"], issuer=record["issuer"]["code"],
        record_json=json.dumps(record, ensure_ascii=False, sort_keys=True), qr_text=qr_text, state=state,
        reason=reason, since=since, registered_at=registered_at.astimezone(UTC), superseded_by=superseded_by))


def offline_entry(record: dict, state: State, registered_at: datetime, *, reason: str = "",
                  since: datetime | None = None, superseded_by: int | None = None,
                  record_no: str | None = None) -> RegistryEntry:
    """A row of the offline data, as the status feed carries it (times in UTC, the record number only)."""
    return RegistryEntry(record["registration_no"], record["version"], state,
                         SameRecordNo(record["equipment"]["record_no"] if record_no is None else record_no),
                         reason, (since or registered_at).astimezone(UTC), superseded_by,
                         registered_at.astimezone(UTC))


def cases(v: Any) -> list[Case]:
    """`v` is tests.keys.vectors (keys, records, times), passed in to keep the two modules out of a circle."""
    out = [*_cases(v, "online"), *_cases(v, "offline")]
    names = [c.name for c in out]
    assert len(set(names)) == len(names), "case names must be unique"
    return out


def _cases(v: Any, mode: str) -> list[Case]:
    S, T = SignatureResult, State
    ed, compromised, only_2025 = "issuer-210100-ed25519", "issuer-210100-ed25519-compromised", \
        "issuer-210100-ed25519-2025-only"
    signer = v.Signer()

    def code(record: dict, label: str = ed, signed_at: datetime = v.SIGNED_AT) -> str:
        return payload.issue(Record.from_json(record), signer.key(label), v.BASE_URL, signed_at)

    def rec(n: int, **kwargs: Any) -> dict:
        return v.realistic(3000 + n, 700 + n, **{"issued_on": "2025-02-26", **kwargs})

    registered = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)   # half an hour after signing: 2025-03-01 10:00 +08:00
    changed = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)
    out: list[Case] = []
    on = mode == "online"
    data_time = None if on else DATA_TIME
    n0 = 0 if on else 50

    def case(name: str, description: str, text: str, intended: tuple[SignatureResult, State, bool],
             *entries: tuple[RegistryEntry, dict | None], **kwargs: Any) -> None:
        out.append(Case(f"{mode}-{name}", description, mode, text, intended, list(entries),
                        data_time=kwargs.pop("data_time", data_time), **kwargs))

    def entry(record: dict, qr_text: str | None, state: State | None = None, reason: str = "",
              since: datetime | None = None, at: datetime = registered, **kwargs: Any
              ) -> tuple[RegistryEntry, dict | None]:
        if on:
            return steps_entry(record, qr_text, at, state=state, reason=reason, since=since, **kwargs), record
        return offline_entry(record, state or T.VALID, at, reason=reason, since=since, **kwargs), None

    where = "the registry" if on else "the offline data"
    r = rec(n0 + 1)
    case("valid", f"A valid code of a certificate {where} holds as valid: ok.", code(r), (S.VALID, T.VALID, True),
         entry(r, code(r)))
    for k, (state, reason) in enumerate(((T.ENDED, "设备已拆卸 / dismantled"),
                                         (T.SUSPENDED, "安全检查不合格，停止使用 / failed a safety inspection"),
                                         (T.REVOKED, "登记证书被撤销 / registration revoked"))):
        r = rec(n0 + 2 + k)
        case(state.value, f"A valid code of a certificate {where} holds as {state.value}, with the issuer's "
             "reason and since when: not ok.", code(r), (S.VALID, state, False),
             entry(r, code(r), state, reason, changed))
    first = rec(n0 + 5)
    second = {**first, "version": 2, "licence_id": str(replace(LicenceId.parse(first["licence_id"]), version=2)),
              "equipment": {**first["equipment"], "model": "QTZ125(TC6018-10)"}}
    corrected = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
    case("superseded", f"Version 1's code after a correction made version 2: {where} names the newer "
         "version (superseded_by): not ok.", code(first), (S.VALID, T.SUPERSEDED, False),
         entry(first, code(first), T.SUPERSEDED, "更正设备型号 / model corrected", corrected, superseded_by=2),
         entry(second, code(second, signed_at=corrected), since=corrected, at=corrected))
    r = rec(n0 + 6)
    case("not-registered" if on else "not-in-data",
         "A valid code of a certificate the registry does not hold: not_found." if on else
         "A valid code of a certificate the offline data does not hold: unknown, never a guess.",
         code(r), (S.VALID, T.NOT_FOUND if on else T.UNKNOWN, False))
    r = rec(n0 + 7)
    other = code(r, signed_at=v.SIGNED_AT + timedelta(days=1))
    if on:
        case("payload-differs", "A validly signed code for numbers the registry holds with another code (the "
             "same record signed a day later): the registry's payload is the one: not_found.",
             code(r), (S.VALID, T.NOT_FOUND, False), entry(r, other))
    else:
        case("record-no-differs", "A validly signed code whose record number differs from the one the offline "
             "data holds for its numbers: not_found.", code(r), (S.VALID, T.NOT_FOUND, False),
             entry(r, None, record_no="辽A-T-00000"))
    r = rec(n0 + 8)
    tampered = v.url(_tamper(payload.decode(code(r))))
    case("invalid", "A code whose signature does not verify: its claims are not believed, nothing is looked "
         "up: unknown.", tampered, (S.INVALID, T.UNKNOWN, False), entry(r, code(r)))
    r = rec(n0 + 9)
    case("unknown-key", "A code signed by a key no trust-list entry has: nothing is looked up: unknown.",
         code(r, "unlisted-ed25519"), (S.UNKNOWN_KEY, T.UNKNOWN, False), entry(r, code(r, "unlisted-ed25519")))
    r = rec(n0 + 10, issued_on="2026-02-27")
    late = code(r, only_2025, datetime(2026, 3, 1, 9, 30, tzinfo=v.CST))
    case("key-not-valid-at-issue", f"Signed in 2026 with a key valid for 2025 only, though {where} holds it "
         "as valid: not ok.", late, (S.KEY_NOT_VALID_AT_ISSUE, T.VALID, False),
         entry(r, late, at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC)))
    r = rec(n0 + 11, issued_on="2025-07-01")
    after = code(r, compromised, v.COMPROMISED_AT + timedelta(days=30))
    case("key-revoked", f"Signed after its key's compromise, though {where} holds it as valid: not ok.", after,
         (S.KEY_REVOKED, T.VALID, False), entry(r, after, at=v.COMPROMISED_AT + timedelta(days=31)))
    r = rec(n0 + 12)
    backdated = code(r, compromised, v.COMPROMISED_AT - timedelta(days=30))
    case("key-revoked-backdated", f"Signed with a signing time before its key's compromise, but {where} first "
         "saw it after the compromise: a stolen key cannot backdate past registration: key_revoked.",
         backdated, (S.KEY_REVOKED, T.VALID, False),
         entry(r, backdated, at=v.COMPROMISED_AT + timedelta(days=2)))
    r = rec(n0 + 17)
    r["registration_no"] = "辽B-" + r["registration_no"].split("-", 1)[1]
    squatted = code(r)
    case("number-outside-issuer-space", f"A 沈阳-signed code for a number in 大连's space (辽B-), though {where} "
         "holds it as valid: the signer has no authority over the number, so nothing is looked up: unknown.",
         squatted, (S.INVALID, T.UNKNOWN, False), entry(r, squatted))
    r = rec(n0 + 18, issued_on="2025-09-01")
    retired = code(r, "issuer-210100-ed25519-retired-at", v.RETIRED_AT)
    case("key-retired-signed-at", f"Signed at its key's retirement, though {where} holds it as valid: not ok.",
         retired, (S.KEY_NOT_VALID_AT_ISSUE, T.VALID, False), entry(r, retired, at=v.RETIRED_AT + timedelta(hours=1)))
    r = rec(n0 + 19)
    forged = v.url(_tamper(payload.decode(code(rec(n0 + 20)))))
    host = forged.split("/")[2]
    case("licence-id-in-host-of-forged-code", f"A forged code whose host is the e-licence identifier of a "
         f"certificate {where} holds as valid: a code in our payload form answers by its own signature, never "
         "by an identifier written into it: unknown.", forged.replace(host, r["licence_id"], 1).upper(),
         (S.INVALID, T.UNKNOWN, False), entry(r, code(r)))
    case("not-our-code", "Some other QR code's text: malformed, nothing is looked up.", "https://www.example.cn/",
         (S.MALFORMED, T.UNKNOWN, False))
    r = rec(n0 + 13)
    if on:
        case("licence-id", "The e-licence identifier of a registered electronic certificate: found by it, its "
             "registered code checked afresh: ok.", r["licence_id"], (S.VALID, T.VALID, True),
             entry(r, code(r)))
        paper = sample_record(random.Random(3000 + n0 + 14), 700 + n0 + 14, city=v.SHENYANG,
                              category=v.Category.TOWER_CRANE, issued_on=date(2023, 5, 10), paper=True)
        paper["licence_id"] = str(LicenceId(CRANE_TYPE_CODE, paper["issuer"]["credit_code"], "20230000714", 1))
        case("paper-by-licence-id", "The e-licence identifier of a registered paper certificate: no signature "
             "to check; the registration stands: ok.", f"https://zwfw.example.gov.cn/v?id={paper['licence_id']}",
             (S.NOT_APPLICABLE, T.PAPER_LEGACY, True), entry(paper, None))
        case("licence-id-not-registered", "A well-formed e-licence identifier the registry does not know: "
             "not_found.", rec(n0 + 15)["licence_id"], (S.NOT_APPLICABLE, T.NOT_FOUND, False))
        broken = r["licence_id"][:-1] + ("A" if r["licence_id"][-1] != "A" else "B")
        case("licence-id-bad-check", "An e-licence identifier whose check character is wrong: malformed.",
             broken, (S.MALFORMED, T.UNKNOWN, False), entry(r, code(r)))
        r = rec(n0 + 16)
        case("store-down", "A valid code while the registry store cannot be reached: unknown (the service "
             "adds Retry-After).", code(r), (S.VALID, T.UNKNOWN, False), unavailable=STORE_DOWN)
        case("licence-id-store-down", "An e-licence identifier while the registry store cannot be reached: "
             "unknown.", r["licence_id"], (S.NOT_APPLICABLE, T.UNKNOWN, False), unavailable=STORE_DOWN)
    else:
        case("licence-id", "An e-licence identifier offline: the offline data is keyed by numbers, so it "
             "can only be looked up online: unknown.", r["licence_id"], (S.NOT_APPLICABLE, T.UNKNOWN, False),
             entry(r, None))
        r = rec(n0 + 16)
        stale = STALE_DATA_TIME
        case("data-too-old", f"Offline data synced {human_duration(DEFAULT_MAX_AGE)} and more before the "
             "check: nothing it says is used: unknown.", code(r), (S.VALID, T.UNKNOWN, False), entry(r, None),
             data_time=stale, unavailable=TOO_OLD.format(t=china(stale), d=human_duration(DEFAULT_MAX_AGE)))
    r = {**rec(n0 + 17, issued_on="2023-05-10"), "paper": True}  # a code made for it anyway: a forger with the issuer's key, or an error
    case("signed-code-for-paper", f"A validly signed code whose numbers {where} holds as a paper certificate: a "
         "paper certificate has no code, so none matches it: not_found (online and offline alike).", code(r),
         (S.VALID, T.NOT_FOUND, False), entry(r, None, T.PAPER_LEGACY))
    return out


def _tamper(envelope: payload.Envelope) -> bytes:
    """The code's signature with the lowest bit of its first byte flipped."""
    flipped = bytes([envelope.signature[0] ^ 0x01]) + envelope.signature[1:]
    return cbor2.dumps(cbor2.CBORTag(18, [envelope.protected, {}, envelope.payload, flipped]), canonical=True)


def case_doc(case: Case, trust: TrustList, now: datetime) -> dict[str, Any]:
    registry = case.registry()
    answer = answer_code(case.qr_text, trust, VectorRegistry(registry), now)
    got = (answer.signature.result, answer.status.state, answer.verdict.ok)
    if got != case.intended:
        raise AssertionError(f"{case.name}: intended {[str(x) for x in case.intended]}, "
                             f"keys.verdict answers {[str(x) for x in got]} ({answer.status.reason})")
    body = answer.to_json()
    return {
        "name": case.name,
        "description": case.description,
        "mode": case.mode,
        "qr_text": case.qr_text,
        "now": _iso(now),
        "registry": registry,
        "offline": None if case.mode == "online" else {
            "synced_at": _iso(case.data_time), "max_age_seconds": int(case.max_age.total_seconds())},
        "expected": {"signature": body["signature"]["result"], "state": body["status"]["state"],
                     "ok": body["verdict"]["ok"], "verdict": body["verdict"], "answer": body},
    }


def verdicts_doc(v: Any, trust: TrustList, trust_sha256: str, root_public_key: str) -> dict[str, Any]:
    return {
        "vector_format": v.VECTOR_FORMAT,
        "description": "Verdict vectors: a QR text checked against the trust list and a registry (the service's "
                       "or the scanner's offline data) at a moment -> the answer. Format and the registry's "
                       "lookup rules: docs/credential-format.md, 'Verdict vectors'.",
        "trust_list": {"file": v.TRUST_LIST_FILE, "sha256": trust_sha256},
        "root_public_key": root_public_key,
        "keys": v.KEYS_FILE,
        "cases": [case_doc(c, trust, v.VERIFY_AT) for c in cases(v)],
    }

