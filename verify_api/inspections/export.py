"""Inspection records as CSV for a spreadsheet: each cell that a spreadsheet would run as a formula is
neutralised, people's names and numbers are masked unless the reader may see them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from .store import StoredInspection

HEADER = ("id", "checked_at", "received_at", "registration_no", "version", "issuer", "state_now", "signature_now",
          "shown_state", "shown_signature", "mode", "data_age_s", "plate_record_no", "plate_factory_serial",
          "lat", "lon", "accuracy_m", "flags", "inspector_region", "inspector", "note", "has_photo", "qr")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def cell(value: object) -> str:
    """A text a spreadsheet shows as text: a leading formula character gets a `'` in front."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(items: Iterable[StoredInspection], personal_data: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for item in items:
        j = item.to_json(personal_data)
        location = j["location"] or {}
        found = j["found"]
        writer.writerow([cell(v) for v in (
            j["id"], j["checked_at"], j["received_at"], found["registration_no"], found["version"], found["issuer"],
            found["state"], found["signature"], j["shown"]["state"], j["shown"]["signature"], j["shown"]["mode"],
            j["shown"]["data_age_s"], j["plate"]["record_no"], j["plate"]["factory_serial"], location.get("lat"),
            location.get("lon"), location.get("accuracy_m"), " ".join(j["flags"]), j["inspector"]["region"],
            j["inspector"]["name"], j["note"], "yes" if j["has_photo"] else "no", j["qr"])])
    # A byte order mark, so that spreadsheet programs read the Chinese text as UTF-8.
    return "\ufeff" + out.getvalue()
