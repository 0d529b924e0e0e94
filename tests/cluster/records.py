"""Records for store tests: realistic (keys.samples), with a stand-in QR text per payload.

The store does not check signatures (the service does before it writes), so a unique text per record is
enough to give every registration its own payload hash.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from keys.samples import CITIES, sample_record

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def record(index: int, city: int = 0, **changes: Any) -> dict[str, Any]:
    raw = sample_record(random.Random(index), index, city=CITIES[city])
    raw.update(changes)
    return raw


def qr(raw: dict[str, Any], salt: str = "") -> str:
    body = f"{raw['registration_no']}-{raw['version']}{salt}".encode().hex().upper()
    return f"HTTPS://VERIFY.EXAMPLE.CN/V/{body}"
