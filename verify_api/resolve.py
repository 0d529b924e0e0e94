"""Resolve any QR text to the answer: which certificate, is its signature good, what is its status now."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import Any

from keys.answer import Answer, AnswerJSON, SignatureResult
from keys.identifiers import LicenceId
from keys.payload import Verification, verify_at
from keys.trustlist import TrustList
from keys.verdict import REGISTRY, Lookup, RegistryEntry, SamePayload, Unavailable, answer_code, answer_entry

from .privacy import mask_record, scrub
from .store import Store, StoredVersion, StoreUnavailable
from .store.results import stored_record

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
        self._lock = threading.Lock()   # a worker's threads share it

    def verify(self, text: str, trust: TrustList, now: datetime) -> Verification:
        with self._lock:
            if trust is not self._trust:
                self._trust, self._entries = trust, OrderedDict()
            found = self._entries.get(text)
            if found is not None:
                self._entries.move_to_end(text)
                return found
        result = verify_at(text, trust, now)
        if result.result is not SignatureResult.KEY_NOT_VALID_AT_ISSUE:
            with self._lock:
                if trust is self._trust:
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
    def body(self) -> AnswerJSON:
        """The answer as JSON, built once for the response, the page and the metrics."""
        return self.answer.to_json()


class StoreRegistry:
    """The Redis store as keys.verdict's Registry; remembers whether it was down, for Retry-After."""

    provenance = REGISTRY

    def __init__(self, store: Store):
        self.store = store
        self.down = False

    def entry(self, registration_no: str, version: int) -> Lookup:
        try:
            stored = self.store.get(registration_no, version)
        except StoreUnavailable:
            return self._unavailable()
        return registry_entry(stored) if stored else None

    def by_licence(self, licence_id: LicenceId) -> Lookup:
        try:
            found = self.store.by_licence(str(licence_id))
            stored = self.store.get(*found) if found else None
        except StoreUnavailable:
            return self._unavailable()
        return registry_entry(stored) if stored else None

    def _unavailable(self) -> Unavailable:
        self.down = True
        return Unavailable(STORE_DOWN)


def resolve(text: object, trust: TrustList, store: Store, now: datetime) -> Resolution:
    registry = StoreRegistry(store)
    answer = answer_code(text, trust, registry, now, _cache.verify)
    return Resolution(answer, store_down=registry.down)


def answer_for_stored(stored: StoredVersion, trust: TrustList, now: datetime) -> Answer:
    """The answer for a certificate found by number: its stored issuer signature checked afresh."""
    return answer_entry(registry_entry(stored), trust, now, verify=_cache.verify)


def registry_entry(stored: StoredVersion) -> RegistryEntry:
    # a reason is an issuer's free text: phone and ID numbers in it are masked like any record field
    return RegistryEntry(stored.registration_no, stored.version, stored.state, SamePayload(stored.qr_text),
                         scrub(stored.reason), stored.since, stored.superseded_by, stored.registered_at,
                         stored.issuer, public_certificate(stored))


def public_certificate(stored: StoredVersion) -> dict[str, Any]:
    """The stored record as the public sees it, each answer with its own copy of the shared masked view."""
    certificate = _masked(stored.record_json).copy()
    for key, value in certificate.items():
        if type(value) is MappingProxyType:  # a section: its own copy too
            certificate[key] = value.copy()
    certificate["registered_at"] = stored.registered_at.isoformat(timespec="seconds")
    return certificate


@lru_cache(maxsize=4096)
def _masked(record_json: str) -> MappingProxyType[str, Any]:
    """Masking walks every string with regexes; a stored record never changes, so do it once per record.

    Every answer for the record shares the result, so it is read-only (a record's sections hold no deeper
    objects).
    """
    record = stored_record(record_json)
    masked = mask_record(record)
    masked["equipment"]["category_zh"] = record.equipment.category.zh
    return MappingProxyType({k: MappingProxyType(v) if isinstance(v, dict) else v for k, v in masked.items()})
