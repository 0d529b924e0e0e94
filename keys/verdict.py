"""The one decision: a scanned code, its signature and its registry entry -> the answer.

The service asks Redis and the scanner its offline SQLite data, both through `Registry`. What only one
of them can say (the store is down; the offline data is too old, lacks the certificate, or cannot look
an e-licence identifier up) arrives as `Unavailable` with its reason, so every answer is decided and
worded here once. docs/test-vectors/verdicts.json pins this function for every implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .answer import Answer, IssuerRef, Signature, SignatureResult, Source, State, Status
from .errors import IdentifierError
from .identifiers import LICENCE_IN_TEXT, LicenceId
from .payload import MAX_TEXT, Claims, Malformed, Verification, unprefix, verify_at
from .trustlist import TrustedIssuer, TrustList

NOT_OURS = "不是本系统的证书二维码 / not a certificate code of this system"
SIG_FAILED = "签名未通过，未查询登记状态 / signature failed; status not looked up"
NOT_REGISTERED = ("未查询到登记信息（新发证书可能尚未同步），请联系发证机关 / No registration found; new certificates "
                  "may not have arrived yet")
DIFFERS = "二维码内容与登记的证书不一致 / The QR content differs from the registered certificate"


@dataclass(frozen=True)
class SamePayload:
    """The registry keeps the code it registered: a scanned code matches only with exactly its signed payload.

    A paper certificate has no code (`qr_text` None), so no scanned code matches it.
    """

    qr_text: str | None


@dataclass(frozen=True)
class SameRecordNo:
    """Offline data keeps the property record number, not the code: the code's claims must state it
    ("" when the data does not say, and then nothing is compared)."""

    record_no: str


Match = SamePayload | SameRecordNo


@dataclass(frozen=True)
class RegistryEntry:
    """One certificate version as a registry states it."""

    registration_no: str
    version: int
    state: State
    match: Match
    reason: str = ""
    since: datetime | None = None
    superseded_by: int | None = None      # the version that replaced this one
    registered_at: datetime | None = None  # when the registry first saw it: a stolen key cannot backdate past this
    issuer: str | None = None              # issuer code, named on answers for certificates without a code
    certificate: dict[str, Any] | None = None  # what the registry shows of it (masked); None: the code's own claims


@dataclass(frozen=True)
class Unavailable:
    """The registry cannot say; the state is unknown, for this reason."""

    reason: str


Lookup = RegistryEntry | Unavailable | None  # None: the registry has no such certificate


@dataclass(frozen=True)
class Provenance:
    """Where statuses come from: the registry itself, or offline data as of `data_time`."""

    source: Source = Source.REGISTRY
    data_time: datetime | None = None

    def status(self, state: State, reason: str = "", since: datetime | None = None,
               superseded_by: dict[str, Any] | None = None) -> Status:
        return Status(state, reason, since, self.source, superseded_by, self.data_time)


class Registry(Protocol):
    """The lookups a verdict needs."""

    @property
    def provenance(self) -> Provenance: ...

    def entry(self, registration_no: str, version: int) -> Lookup: ...

    def by_licence(self, licence_id: LicenceId) -> Lookup: ...


Verifier = Callable[[str, TrustList, datetime], Verification]
REGISTRY = Provenance()


def answer_code(text: object, trust: TrustList, registry: Registry, now: datetime,
                verify: Verifier = verify_at) -> Answer:
    """The answer for a scanned text: a QR URL or payload, or an e-licence identifier anywhere in it.

    `verify` is keys.payload.verify_at or a cache in front of it: the signature is a pure function of the
    text, the trust list and the clock.
    """
    provenance = registry.provenance
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return _not_ours(now, provenance)
    # A code in one of our payload forms answers by its signature alone: an identifier written into its
    # host ("https://1.2.156.3005.2.<id>/V/<forged payload>") must not make it pass for that certificate.
    licence = None if _payload_or_none(text) else LICENCE_IN_TEXT.search(text)
    if licence:
        return _by_licence(licence.group(0).rstrip("."), trust, registry, now, verify)
    verification = verify(text, trust, now)
    if verification.not_ours:
        return _not_ours(now, provenance)
    claims = verification.claims
    if claims is None or verification.result is SignatureResult.INVALID:
        # Claims without a good signature are an attacker's words: look nothing up for them.
        return Answer(verification.signature(), provenance.status(State.UNKNOWN, SIG_FAILED), now)
    found = registry.entry(claims.registration_no, claims.version)
    if isinstance(found, RegistryEntry) and _matches(found, text, claims):
        certificate = found.certificate
        if certificate is None:  # the registry shows no record (offline data): the code's own claims
            certificate = claims.certificate(verification.issuer)
            if found.registered_at is not None:
                certificate["registered_at"] = found.registered_at.isoformat(timespec="seconds")
        else:
            certificate = public_certificate(certificate, verification.issuer, signed=True)
        return Answer(verification.signature_registered(found.registered_at), _status(found, provenance), now,
                      certificate)
    if isinstance(found, Unavailable):
        status = provenance.status(State.UNKNOWN, found.reason)
    else:
        status = provenance.status(State.NOT_FOUND, NOT_REGISTERED if found is None else DIFFERS)
    return Answer(verification.signature(), status, now, claims.certificate(verification.issuer))


def answer_entry(entry: RegistryEntry, trust: TrustList, now: datetime, provenance: Provenance = REGISTRY,
                 verify: Verifier = verify_at) -> Answer:
    """The answer for a certificate found by its numbers or e-licence identifier: its registered code checked
    afresh against today's trust list, or for a certificate without one, no signature to check."""
    qr_text = entry.match.qr_text if isinstance(entry.match, SamePayload) else None
    if qr_text:
        verification = verify(qr_text, trust, now)
        signature = verification.signature_registered(entry.registered_at)
        issuer = verification.issuer
    else:
        issuer = trust.issuer(entry.issuer) if entry.issuer else None
        signature = Signature(SignatureResult.NOT_APPLICABLE,
                              issuer=IssuerRef(issuer.code, issuer.name) if issuer else None)
    certificate = entry.certificate
    if certificate is not None:
        certificate = public_certificate(certificate, issuer, signed=bool(qr_text))
    return Answer(signature, _status(entry, provenance), now, certificate)


# What a signed payload states (keys.payload.Claims); a registry's record may say more, on its own word.
SIGNED_FIELDS = frozenset({
    "registration_no", "version", "licence_id", "issued_on", "equipment.category", "equipment.model",
    "equipment.record_no", "equipment.factory_serial", "user.name", "project.name", "project.position"})
# Not labelled: the issuer comes from the trust list, the category's words from the signed category, and the
# registration time is the registry's own fact about itself.
_NOT_LABELLED = frozenset({"issuer.code", "issuer.name", "issuer.credit_code", "equipment.category_zh",
                           "registered_at"})


def public_certificate(certificate: dict[str, Any], issuer: TrustedIssuer | None, signed: bool) -> dict[str, Any]:
    """A registry's record as the public sees it: the issuer as the trust list names it (the signer's, for a
    signed code; never the record's unsigned words), and `registry_data` listing the fields that no
    signature covers ("project.address"), for pages and programs to label as the registry's word."""
    out = dict(certificate)
    code = issuer.code if issuer else (certificate.get("issuer") or {}).get("code")
    out["issuer"] = {"code": code, "name": issuer.name if issuer else None,
                     "credit_code": issuer.credit_code if issuer else None}
    out["registry_data"] = sorted(path for path in _leaf_paths(out)
                                  if path not in _NOT_LABELLED and not (signed and path in SIGNED_FIELDS))
    return out


def _leaf_paths(certificate: dict[str, Any]) -> Iterator[str]:
    """The dotted paths of the fields that say something (not empty, not false)."""
    for key, value in certificate.items():
        if isinstance(value, Mapping):
            yield from (f"{key}.{inner}" for inner, v in value.items() if v not in (None, "", False))
        elif value not in (None, "", False, []):
            yield key


def _by_licence(candidate: str, trust: TrustList, registry: Registry, now: datetime, verify: Verifier) -> Answer:
    provenance = registry.provenance
    try:
        licence_id = LicenceId.parse(candidate)
    except IdentifierError:
        return _not_ours(now, provenance)
    found = registry.by_licence(licence_id)
    if isinstance(found, Unavailable):
        return Answer(Signature(SignatureResult.NOT_APPLICABLE), provenance.status(State.UNKNOWN, found.reason), now)
    if found is None:
        return Answer(Signature(SignatureResult.NOT_APPLICABLE), provenance.status(State.NOT_FOUND, NOT_REGISTERED),
                      now)
    return answer_entry(found, trust, now, provenance, verify)


def _not_ours(now: datetime, provenance: Provenance) -> Answer:
    return Answer(Signature(SignatureResult.MALFORMED), provenance.status(State.UNKNOWN, NOT_OURS), now)


def _matches(found: RegistryEntry, text: str, claims: Claims) -> bool:
    if found.state is State.PAPER_LEGACY:
        return False  # a paper certificate has no code (offline data keeps no payloads, only this state)
    match = found.match
    if isinstance(match, SameRecordNo):
        return not match.record_no or match.record_no == claims.record_no
    # Hosts and path case may differ between prints of one code; the signed payload may not.
    return match.qr_text is not None and _payload_or_none(text) == _payload_or_none(match.qr_text)


def _payload_or_none(text: str) -> str | None:
    try:
        return unprefix(text)
    except Malformed:
        return None


def _status(entry: RegistryEntry, provenance: Provenance) -> Status:
    superseded_by = ({"registration_no": entry.registration_no, "version": entry.superseded_by}
                     if entry.superseded_by else None)
    return provenance.status(entry.state, entry.reason, entry.since, superseded_by)
