"""Records for store tests: realistic (keys.samples), with a stand-in QR text per payload.

The store does not check signatures (the service does before it writes), so a unique text per record is
enough to give every registration its own payload hash.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from keys.record import Record
from keys.samples import CITIES, sample_record

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def record(index: int, city: int = 0, **changes: Any) -> Record:
    """A sample record; `changes` replace fields unchecked (the store keeps what the service validated)."""
    return replace(Record.from_json(sample_record(random.Random(index), index, city=CITIES[city])), **changes)


def qr(record: Record, salt: str = "") -> str:
    body = f"{record.registration_no}-{record.version}{salt}".encode().hex().upper()
    return f"HTTPS://VERIFY.EXAMPLE.CN/V/{body}"
