"""The service layer under the JSON API and the public pages: check a QR text, find a certificate by its numbers.

Views stay thin: they read the request, call one of these, and shape the response. Everything a check
does besides answering (counting it, logging it for its retention) happens here, once for every route.
"""

from __future__ import annotations

import re
import unicodedata

from flask import current_app

from keys.answer import Answer

from . import metrics
from .resolve import Resolution, answer_for_stored, resolve
from .services import client_address, services
from .store import StoredVersion

MAX_NUMBER = 64  # characters of a registration or record number; longer is no number of ours

_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−﹣－", "-"))


def check_text(text: str) -> Resolution:
    """Resolve any QR text, count the verdict, and log the scan for its retention."""
    s = services()
    now = s.config.now()
    resolution = resolve(text, s.trust.current(), s.store, now)
    metrics.count_verdict(resolution.answer)
    try:
        s.scan_log.append(text, client_address(), now)
    except (OSError, ValueError):
        current_app.logger.warning("scan log not writable")  # the answer matters more than its log
    return resolution


def normalise_number(text: str) -> str:
    """What people type on a phone: full-width letters, other dashes, spaces, lower case."""
    text = unicodedata.normalize("NFKC", text).translate(_DASHES)
    return re.sub(r"\s+", "", text).upper()


def find_by_numbers(registration_no: str, record_no: str) -> StoredVersion | None:
    """The latest version, only when both numbers match, so numbers cannot be used to list certificates.

    Raises StoreUnavailable when the registry cannot be reached.
    """
    registration_no, record_no = registration_no.strip(), record_no.strip()
    if not registration_no or not record_no or max(len(registration_no), len(record_no)) > MAX_NUMBER:
        return None
    store = services().store
    stored = store.get(registration_no)
    normalised = normalise_number(registration_no)
    if stored is None and normalised != registration_no:
        stored = store.get(normalised)
    if stored is None:
        return None
    return stored if normalise_number(stored.record.equipment.record_no) == normalise_number(record_no) else None


def check_by_numbers(registration_no: str, record_no: str) -> Answer | None:
    """The answer for a certificate found by its two numbers, counted like a scan; None when not found."""
    stored = find_by_numbers(registration_no, record_no)
    if stored is None:
        return None
    s = services()
    answer = answer_for_stored(stored, s.trust.current(), s.config.now())
    metrics.count_verdict(answer)
    return answer
