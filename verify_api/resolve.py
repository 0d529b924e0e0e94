"""Resolve any QR text to the answer: which certificate, is its signature good, what is its status now."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import Any

import orjson

from keys.answer import CHINA_TIME, Answer, AnswerJSON, SignatureResult
from keys.identifiers import LICENCE_IN_TEXT, LicenceId
from keys.payload import MAX_TEXT, Verification, verify_at
from keys.record import Category
from keys.trustlist import TrustList
from keys.verdict import REGISTRY, Lookup, RegistryEntry, SamePayload, Unavailable, answer_code, answer_entry

from .privacy import mask_json, scrub
from .store import Store, StoredVersion, StoreUnavailable
from .store.results import stored_record_json

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
class Ready:
    """An answer and its JSON bytes around `checked_at`, made once per QR text and registry status."""

    answer: Answer
    head: bytes
    tail: bytes

    @classmethod
    def of(cls, answer: Answer) -> Ready:
        body = answer.to_json()
        body["checked_at"] = _CHECKED_AT
        head, tail = (orjson.dumps(body) + b"\n").split(orjson.dumps(_CHECKED_AT))
        return cls(answer, head, tail)


_CHECKED_AT = "\x00checked_at\x00"   # no answer holds a NUL: it marks where the time goes


@dataclass(frozen=True)
class Resolution:
    answer: Answer
    store_down: bool = False
    ready: Ready | None = None

    @cached_property
    def body(self) -> AnswerJSON:
        """The answer as JSON, built once for the page and the metrics."""
        return self.answer.to_json()

    def json(self) -> bytes:
        """The answer as the API sends it: the bytes made for this text and status, with this check's time."""
        ready = self.ready or Ready.of(self.answer)
        checked_at = self.answer.checked_at.astimezone(CHINA_TIME).isoformat(timespec="seconds")
        return b"".join((ready.head, b'"', checked_at.encode(), b'"', ready.tail))


class AnswerCache:
    """Answers by (QR text, registry status of the version it names), per trust list and store instance.

    An answer is a function of the text, the trust list, the version's status and its unchanging parts,
    and the clock only through `checked_at` (results that depend on the clock otherwise are never kept:
    see VerificationCache). So a scan whose version's status is unchanged reuses the answer and its bytes.
    """

    def __init__(self, size: int = 8192):
        self.size = size
        self._scope: tuple[TrustList, Store] | None = None
        self._entries: dict[tuple, Ready] = {}
        self._lock = threading.Lock()

    def get(self, trust: TrustList, store: Store, key: tuple) -> Ready | None:
        scope = self._scope
        return self._entries.get(key) if scope and scope[0] is trust and scope[1] is store else None

    def put(self, trust: TrustList, store: Store, key: tuple, answer: Answer) -> Ready:
        ready = Ready.of(answer)
        with self._lock:
            scope = self._scope
            if not (scope and scope[0] is trust and scope[1] is store):
                self._scope, self._entries = (trust, store), {}
            self._entries[key] = ready
            if len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]
        return ready


_answers = AnswerCache()


class StoreRegistry:
    """The Redis store as keys.verdict's Registry; remembers whether it was down, for Retry-After."""

    provenance = REGISTRY

    def __init__(self, store: Store):
        self.store = store
        self.down = False

    def entry(self, registration_no: str, version: int) -> Lookup:
        try:
            stored = self.store.get_version(registration_no, version)
        except StoreUnavailable:
            return self._unavailable()
        return registry_entry(stored) if stored else None

    def by_licence(self, licence_id: LicenceId) -> Lookup:
        try:
            found = self.store.by_licence(str(licence_id))
            stored = self.store.get_version(*found) if found else None
        except StoreUnavailable:
            return self._unavailable()
        return registry_entry(stored) if stored else None

    def _unavailable(self) -> Unavailable:
        self.down = True
        return Unavailable(STORE_DOWN)


class _Prefetched(StoreRegistry):
    """The store, with the version a scan names already read (or found unreachable: asked once, not twice)."""

    def __init__(self, store: Store, key: tuple[str, int], stored: StoredVersion | StoreUnavailable | None):
        super().__init__(store)
        self.key, self.stored = key, stored

    def entry(self, registration_no: str, version: int) -> Lookup:
        if (registration_no, version) != self.key:
            return super().entry(registration_no, version)
        if isinstance(self.stored, StoreUnavailable):
            return self._unavailable()
        return registry_entry(self.stored) if self.stored else None


def resolve(text: object, trust: TrustList, store: Store, now: datetime) -> Resolution:
    verification = _signed_payload(text, trust, now)
    if verification is not None and verification.claims is not None:
        named = (verification.claims.registration_no, verification.claims.version)
        try:
            stored = store.get_version(*named)
        except StoreUnavailable as exc:
            unreachable = _Prefetched(store, named, exc)
            return Resolution(answer_code(text, trust, unreachable, now, _cache.verify), store_down=True)
        key = (text, *named, _status_of(stored))
        ready = _answers.get(trust, store, key)
        if ready is not None:
            return Resolution(replace(ready.answer, checked_at=now), ready=ready)
        answer = answer_code(text, trust, _Prefetched(store, named, stored), now, _cache.verify)
        return Resolution(answer, ready=_answers.put(trust, store, key, answer))
    registry = StoreRegistry(store)
    answer = answer_code(text, trust, registry, now, _cache.verify)
    return Resolution(answer, store_down=registry.down)


def _signed_payload(text: object, trust: TrustList, now: datetime) -> Verification | None:
    """The verification of a text that answer_code decides by its payload's signature and the version it
    names, when that signature does not depend on the clock; None for anything else (not ours, an e-licence
    identifier, a bad signature, a time-dependent result), which takes the whole path every time."""
    if not isinstance(text, str) or len(text) > MAX_TEXT or LICENCE_IN_TEXT.search(text):
        return None
    verification = _cache.verify(text, trust, now)
    if verification.not_ours or verification.result in (SignatureResult.INVALID,
                                                        SignatureResult.KEY_NOT_VALID_AT_ISSUE):
        return None
    return verification


def _status_of(stored: StoredVersion | None) -> tuple | None:
    return None if stored is None else (stored.state, stored.reason, stored.since, stored.superseded_by)


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
    masked = mask_json(stored_record_json(record_json))
    masked["equipment"]["category_zh"] = Category(masked["equipment"]["category"]).zh
    return MappingProxyType({k: MappingProxyType(v) if isinstance(v, dict) else v for k, v in masked.items()})
