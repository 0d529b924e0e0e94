"""The uploaded record's reader: whatever JSON arrives, a record or a refusal naming the field, never a crash."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from verify_api.inspections.record import Flag, Inspection, InspectionError, parse

GOOD = {"id": str(uuid.UUID(int=7)), "qr": "HTTPS://VERIFY.EXAMPLE.CN/V/ABC", "checked_at": "2026-03-02T09:41:07+08:00",
        "shown": {"state": "valid", "signature": "valid", "mode": "offline", "data_age_s": 5400},
        "plate": {"record_no": "match", "factory_serial": "unchecked"},
        "location": {"lat": 41.8, "lon": 123.4, "accuracy_m": 12}, "note": "", "photo": None}

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(field=st.sampled_from(["id", "qr", "checked_at", "shown", "plate", "location", "note", "photo", "shown.state",
                              "shown.mode", "shown.data_age_s", "location.lat", "plate.record_no"]),
       value=json_values)
def test_any_value_in_any_field_is_a_record_or_a_refusal_that_names_it(field, value):
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in GOOD.items()}
    head, _, tail = field.partition(".")
    if tail:
        data[head][tail] = value
    else:
        data[head] = value
    try:
        item = parse(data)
    except InspectionError as exc:
        assert str(exc).startswith(field.split(".")[0]), exc
        assert " / " in str(exc)  # Chinese, then English
    else:
        # what is stored reads back as the same record, and is JSON any client can read (no NaN, no Infinity)
        assert Inspection.from_stored(json.dumps(item.to_json(), allow_nan=False)) == replace(item, photo=None)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6) | json_values)
def test_any_json_at_all_is_read_or_refused(data):
    try:
        parse(data)
    except InspectionError as exc:
        assert " / " in str(exc)


def test_times_need_an_offset_and_ids_are_kept_in_lower_case():
    for bad in ("2026-03-02T09:41:07", "2026-03-02", "yesterday", "2026-02-30T00:00:00Z", 1772415667):
        try:
            parse({**GOOD, "checked_at": bad})
        except InspectionError as exc:
            assert str(exc).startswith("checked_at: ")
        else:
            raise AssertionError(bad)
    item = parse({**GOOD, "id": GOOD["id"].upper(), "checked_at": "2026-03-02T01:41:07.5Z"})
    assert item.id == GOOD["id"] and item.to_json()["checked_at"] == "2026-03-02T01:41:07.500Z"


def test_every_flag_has_chinese_then_english_words():
    assert {f.value for f in Flag} == {"status_changed", "ended_in_use", "superseded_in_use", "plate_mismatch",
                                       "signature_invalid", "two_sites", "outside_region"}
    for flag in Flag:
        assert flag.zh and flag.en and not flag.zh.isascii() and flag.en.isascii()
