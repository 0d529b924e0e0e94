"""Resolve any QR text to the answer: which certificate, is its signature good, what is its status now."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache

from keys.answer import Answer, IssuerRef, Signature, SignatureResult, Source, State, Status
from keys.errors import IdentifierError
from keys.identifiers import LICENCE_IN_TEXT, LicenceId
from keys.payload import MAX_TEXT, Verification, verify_at
from keys.record import Category
from keys.trustlist import TrustList

from .privacy import mask_record, scrub
from .store import Store, StoredVersion, StoreUnavailable, payload_of

NOT_REGISTERED = "未查询到登记信息（新发证书可能尚未同步），请联系发证机关 / No registration found; new certificates may not have arrived yet"
DIFFERS = "二维码内容与登记的证书不一致 / The QR content differs from the registered certificate"
STORE_DOWN = "登记库暂时无法访问 / The registry cannot be reached right now"


class VerificationCache:
    """Signature checks are a pure function of the text and the trust list: keep recent ones.

    Keyed by the exact text and the trust list instance, so a reloaded list (a key retired or
    compromised) starts afresh. A result that depended on the clock (signed in the future) is not kept.
    """

    def __init__(self, size: int = 8192):
        self.size = size
        self._trust: TrustList | None = None
        self._entries: OrderedDict[str, Verification] = OrderedDict()

    def verify(self, text: str, trust: TrustList, now: datetime) -> Verification:
        if trust is not self._trust:
            self._trust, self._entries = trust, OrderedDict()
        found = self._entries.get(text)
        if found is not None:
            self._entries.move_to_end(text)
            return found
        result = verify_at(text, trust, now)
        if result.result is not SignatureResult.KEY_NOT_VALID_AT_ISSUE:
            self._entries[text] = result
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return result


_cache = VerificationCache()


@dataclass(frozen=True)
class Resolution:
    answer: Answer
    store_down: bool = False

    @cached_property
    def body(self) -> dict:
        """The answer as JSON, built once for the response, the page and the metrics."""
        return self.answer.to_json()


def resolve(text: str, trust: TrustList, store: Store, now: datetime) -> Resolution:
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return _malformed(now, "QR text too long")
    match = LICENCE_IN_TEXT.search(text)
    if match:
        return _by_licence_id(match.group(0).rstrip("."), trust, store, now)
    verification = _cache.verify(text, trust, now)
    if verification.not_ours:
        return _malformed(now, verification.reason)
    return _by_payload(text, verification, trust, store, now)


def _malformed(now: datetime, reason: str) -> Resolution:
    status = Status(State.UNKNOWN, reason="不是本系统的证书二维码 / not a certificate code of this system")
    return Resolution(Answer(Signature(SignatureResult.MALFORMED), status, now))


def _by_payload(text: str, verification: Verification, trust: TrustList, store: Store, now: datetime) -> Resolution:
    signature = verification.signature()
    claims = verification.claims
    if claims is None or verification.result is SignatureResult.INVALID:
        # Claims without a good signature are an attacker's words: look nothing up for them.
        status = Status(State.UNKNOWN, reason="签名未通过，未查询登记状态 / signature failed; status not looked up")
        return Resolution(Answer(signature, status, now))
    try:
        stored = store.get(claims.registration_no, claims.version)
    except StoreUnavailable:
        status = Status(State.UNKNOWN, reason=STORE_DOWN)
        return Resolution(Answer(signature, status, now, claims.certificate(verification.issuer)), store_down=True)
    if stored is None:
        status = Status(State.NOT_FOUND, reason=NOT_REGISTERED)
        return Resolution(Answer(signature, status, now, claims.certificate(verification.issuer)))
    if payload_of(text) != payload_of(stored.qr_text or ""):
        status = Status(State.NOT_FOUND, reason=DIFFERS)
        return Resolution(Answer(signature, status, now, claims.certificate(verification.issuer)))
    return Resolution(Answer(verification.signature_registered(stored.registered_at), _status(stored), now,
                             public_certificate(stored)))


def _by_licence_id(candidate: str, trust: TrustList, store: Store, now: datetime) -> Resolution:
    try:
        licence_id = str(LicenceId.parse(candidate))
    except IdentifierError as exc:
        return _malformed(now, str(exc))
    try:
        found = store.by_licence(licence_id)
        stored = store.get(*found) if found else None
    except StoreUnavailable:
        return Resolution(Answer(Signature(SignatureResult.NOT_APPLICABLE), Status(State.UNKNOWN, reason=STORE_DOWN),
                                 now), store_down=True)
    if stored is None:
        return Resolution(Answer(Signature(SignatureResult.NOT_APPLICABLE), Status(State.NOT_FOUND,
                                 reason=NOT_REGISTERED), now))
    return Resolution(answer_for_stored(stored, trust, now))


def answer_for_stored(stored: StoredVersion, trust: TrustList, now: datetime) -> Answer:
    """The answer for a certificate found by number: its stored issuer signature checked afresh."""
    if stored.qr_text:
        signature = _cache.verify(stored.qr_text, trust, now).signature_registered(stored.registered_at)
    else:
        issuer = trust.issuer(stored.issuer)
        signature = Signature(SignatureResult.NOT_APPLICABLE,
                              issuer=IssuerRef(issuer.code, issuer.name) if issuer else None)
    return Answer(signature, _status(stored), now, public_certificate(stored))


def _status(stored: StoredVersion) -> Status:
    superseded_by = ({"registration_no": stored.registration_no, "version": stored.superseded_by}
                     if stored.superseded_by else None)
    # a reason is an issuer's free text: phone and ID numbers in it are masked like any record field
    return Status(stored.state, reason=scrub(stored.reason), since=stored.since, source=Source.REGISTRY,
                  superseded_by=superseded_by)


def public_certificate(stored: StoredVersion) -> dict:
    record = _masked(stored.record_json)
    return {**record, "registered_at": stored.registered_at.isoformat(timespec="seconds")}


@lru_cache(maxsize=4096)
def _masked(record_json: str) -> dict:
    """Masking walks every string with regexes; a stored record never changes, so do it once per record."""
    record = mask_record(json.loads(record_json))
    equipment = record.get("equipment", {})
    if equipment.get("category"):
        equipment["category_zh"] = Category(equipment["category"]).zh
    return record
