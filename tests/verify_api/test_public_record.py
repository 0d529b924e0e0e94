"""A stored record reads back as a typed Record, parsed once; its public (masked) view is shared between
answers read-only, and every answer gets its own copy, so nothing one caller changes reaches another."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.record import Record
from keys.samples import CITIES, sample_record
from verify_api.resolve import _masked, public_certificate
from verify_api.store.registry import record_json
from verify_api.store.results import stored_record, stored_record_json

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def test_the_public_view_is_masked_read_only_and_copied_for_each_answer(store):
    record = Record.from_json(sample_record(random.Random(5), 501, city=CITIES[0]))
    store.register(record, None, "operator:test", NOW)
    stored = store.get(record.registration_no)
    assert stored.record == record and store.get(record.registration_no).record is stored.record  # parsed once

    first = public_certificate(stored)
    engineer, phone = record.supervisor.engineer, record.supervisor.phone
    assert first["supervisor"]["engineer"] == engineer[0] + "*" * (len(engineer) - 1)
    assert first["supervisor"]["phone"] == phone[:3] + "****" + phone[-4:]
    assert first["equipment"]["category_zh"] == record.equipment.category.zh
    first["supervisor"]["engineer"] = engineer  # a caller changing its answer
    first["equipment"].clear()
    again = public_certificate(store.get(record.registration_no))
    assert again["supervisor"]["engineer"] != engineer and again["equipment"]["record_no"] == record.equipment.record_no

    shared = _masked(stored.record_json)
    with pytest.raises(TypeError):
        shared["equipment"]["model"] = "changed"
    with pytest.raises(TypeError):
        shared["registration_no"] = "changed"


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10**6), paper=st.booleans())
def test_a_stored_record_reads_back_as_its_json_in_field_order_without_the_typed_parse(seed, paper):
    # The scan of an unseen code reads the stored JSON straight: it must be exactly what the typed
    # record gives, key order included (the answer's bytes show it).
    rng = random.Random(seed)
    raw = sample_record(rng, rng.randrange(1, 99_999), city=rng.choice(CITIES), paper=paper,
                        issued_on=date(2023, 5, 1) if paper else None)
    for section in ("owner", "installer", "inspection", "supervisor"):
        if rng.random() < 0.3:
            raw.pop(section, None)
    stored = record_json(Record.from_json(raw))

    def ordered(value):
        return [(k, ordered(v)) for k, v in value.items()] if isinstance(value, dict) else value

    assert ordered(stored_record_json(stored)) == ordered(stored_record(stored).to_json())
