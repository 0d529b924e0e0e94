import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keys.errors import IdentifierError
from keys.identifiers import (
    CREDIT_ALPHABET,
    LicenceId,
    credit_code_check,
    make_credit_code,
    mod37_36_check,
    validate_credit_code,
)

REAL_ID = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
MINISTRY = "11100000000013338W"
ALNUM = string.digits + string.ascii_uppercase


def test_real_licence_identifier_checks_out():
    parsed = LicenceId.parse(REAL_ID)
    assert parsed.type_code == "11100000000013338W011"
    assert parsed.issuer_credit_code == "11430000006122244L"
    assert parsed.serial == "20230000403"
    assert parsed.version == 1
    assert str(parsed) == REAL_ID


def test_real_credit_code_checks_out():
    assert validate_credit_code(MINISTRY) == MINISTRY
    assert credit_code_check(MINISTRY[:17]) == "W"


@pytest.mark.parametrize("bad", [
    REAL_ID[:-1] + "V",                       # wrong check character
    REAL_ID.replace("20230000403", "20230000413"),
    "1.2.156.3005.1.11100000000013338W011.11430000006122244L.20230000403.001.U",
    REAL_ID + ".X",
    REAL_ID.replace(".001.", ".1."),
    "",
])
def test_damaged_licence_identifiers_are_refused(bad):
    with pytest.raises(IdentifierError):
        LicenceId.parse(bad)


@pytest.mark.parametrize("bad", ["11100000000013338X", "1110000000001333W", "11100000000013338w", "I1100000000013338W"])
def test_damaged_credit_codes_are_refused(bad):
    with pytest.raises(IdentifierError):
        validate_credit_code(bad)


@given(st.integers(0, len(REAL_ID) - 1), st.sampled_from(ALNUM))
def test_any_single_changed_character_of_a_licence_id_is_caught(position, replacement):
    if REAL_ID[position] in ".":
        replacement = "."  # the dots are structure: a change there is caught by the parser, tested above
    changed = REAL_ID[:position] + replacement + REAL_ID[position + 1:]
    if changed == REAL_ID:
        return
    with pytest.raises(IdentifierError):
        LicenceId.parse(changed)


@given(st.text(alphabet=CREDIT_ALPHABET, min_size=17, max_size=17), st.integers(0, 17),
       st.sampled_from(CREDIT_ALPHABET))
def test_any_single_changed_character_of_a_credit_code_is_caught(body, position, replacement):
    code = make_credit_code(body)
    assert validate_credit_code(code) == code
    changed = code[:position] + replacement + code[position + 1:]
    if changed != code:
        with pytest.raises(IdentifierError):
            validate_credit_code(changed)


@given(st.text(alphabet=ALNUM, min_size=1, max_size=40), st.integers(0, 39), st.sampled_from(ALNUM))
def test_mod37_36_catches_every_single_substitution(data, position, replacement):
    position %= len(data)
    changed = data[:position] + replacement + data[position + 1:]
    if changed != data:
        assert mod37_36_check(changed) != mod37_36_check(data)
