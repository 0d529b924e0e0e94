"""The flags an inspection earns at receipt: its QR re-verified now, set against what the device showed,
the plate, the inspector's region and the certificate's other checks."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta

from keys.answer import Answer, SignatureResult, State

from .record import Flag, Inspection, PlateCheck
from .store import Found, Sighting

TWO_SITES_WINDOW = timedelta(days=1)
TWO_SITES_METRES = 1000.0
_BAD_SIGNATURES = {SignatureResult.INVALID, SignatureResult.KEY_REVOKED, SignatureResult.KEY_NOT_VALID_AT_ISSUE}


def found_of(answer: Answer) -> Found:
    """Which certificate the code names and what the service finds for it now."""
    certificate = answer.certificate or {}
    issuer = certificate.get("issuer") or {}
    version = certificate.get("version")
    return Found(str(certificate.get("registration_no") or ""), version if isinstance(version, int) else None,
                 str(issuer.get("code") or (answer.signature.issuer.code if answer.signature.issuer else "")),
                 answer.status.state, answer.signature.result)


def flags(item: Inspection, answer: Answer, region: str, others: Iterable[Sighting]) -> tuple[Flag, ...]:
    """`others`: checks of the same certificate within a day of this one (stored, or earlier in the batch)."""
    found = found_of(answer)
    state = answer.status.state
    out: list[Flag] = []
    if state is not State.UNKNOWN and item.shown.state is not state:
        out.append(Flag.STATUS_CHANGED)
    if state is State.ENDED and (answer.status.since is None or item.checked_at >= answer.status.since):
        out.append(Flag.ENDED_IN_USE)
    if state is State.SUPERSEDED:
        out.append(Flag.SUPERSEDED_IN_USE)
    if PlateCheck.MISMATCH in (item.plate.record_no, item.plate.factory_serial):
        out.append(Flag.PLATE_MISMATCH)
    if answer.signature.result in _BAD_SIGNATURES:
        out.append(Flag.SIGNATURE_INVALID)
    if found.registration_no and item.location and any(_other_site(item, s) for s in others):
        out.append(Flag.TWO_SITES)
    if found.issuer and not found.issuer.startswith(region):
        out.append(Flag.OUTSIDE_REGION)
    return tuple(out)


def _other_site(item: Inspection, other: Sighting) -> bool:
    if other.inspection_id == item.id or other.lat is None or other.lon is None or item.location is None:
        return False
    if abs(other.checked_at - item.checked_at) > TWO_SITES_WINDOW:
        return False
    return metres(item.location.lat, item.location.lon, other.lat, other.lon) > TWO_SITES_METRES


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine on a 6371 km sphere)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371000.0 * math.asin(min(1.0, math.sqrt(a)))


def sighting(item: Inspection) -> Sighting:
    loc = item.location
    return Sighting(item.id, item.checked_at, loc.lat if loc else None, loc.lon if loc else None)
