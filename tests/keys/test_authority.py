"""An issuer's key signs for its own number space and e-licence identifiers only (issue 10, points 1 and 2)."""

import random
from dataclasses import replace

import pytest

from keys.answer import SignatureResult
from keys.identifiers import CRANE_TYPE_CODE, LicenceId
from keys.payload import SignedRecordError, check_signed_record, issue, verify_at
from keys.record import Record
from keys.samples import CITIES, authority_credit_code, sample_record

from .conftest import NOW, SIGNED

URL = "https://verify.example.cn"


@pytest.fixture(scope="module")
def spaced(world):
    """The test world's list with 沈阳 limited to 辽A- numbers."""
    return replace(world.trust, issuers=(replace(world.issuer, number_prefixes=("辽A-",)),))


def _record(**changes) -> Record:
    raw = sample_record(random.Random(7), 7, city=CITIES[0])
    raw.update(changes)
    return Record.from_json(raw)


def test_a_number_in_another_issuers_space_is_refused_at_registration_and_not_valid_when_scanned(world, spaced):
    record = _record(registration_no="辽B-DL-2024-00007")
    text = issue(record, world.key(), URL, SIGNED)
    assert verify_at(text, world.trust, NOW).valid, "without number spaces the list limits nobody"
    scanned = verify_at(text, spaced, NOW)
    assert scanned.result is SignatureResult.INVALID and "outside the number space" in scanned.reason
    with pytest.raises(SignedRecordError) as refused:
        check_signed_record(record, text, spaced, NOW)
    assert refused.value.code == "number_outside_issuer_space" and str(refused.value).startswith("登记编号")
    paper = _record(registration_no="辽B-DL-2022-00007", paper=True, issued_on="2022-05-01", licence_id=None)
    with pytest.raises(SignedRecordError, match="number_space|编号范围"):
        check_signed_record(paper, None, spaced, NOW)


def test_an_e_licence_identifier_of_another_issuer_is_refused_whatever_the_record_says(world, spaced):
    raw = sample_record(random.Random(8), 8, city=CITIES[0])
    del raw["issuer"]["credit_code"]  # the record's own, unsigned credit code would not be believed anyway
    raw["licence_id"] = str(LicenceId(CRANE_TYPE_CODE, authority_credit_code(CITIES[1]), "2024000008", 1))
    record = Record.from_json(raw)
    text = issue(record, world.key(), URL, SIGNED)
    scanned = verify_at(text, spaced, NOW)
    assert scanned.result is SignatureResult.INVALID and "another issuer" in scanned.reason
    with pytest.raises(SignedRecordError) as refused:
        check_signed_record(record, text, spaced, NOW)
    assert refused.value.code == "licence_id_of_another_issuer"
    own = _record()
    assert check_signed_record(own, issue(own, world.key(), URL, SIGNED), spaced, NOW)
