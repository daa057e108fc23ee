import contextlib
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st
from stdnum import ee

from koolivarav.schools.demo import make_id_code
from koolivarav.schools.idcodes import clean_id_code, mask_id_code, split_id_codes


@pytest.mark.parametrize("code", ["39001010007", "49403136526", "50001010006", "61501019992"])
def test_valid_codes_are_accepted(code):
    body = code[:10]
    valid = body + ee.ik.calc_check_digit(body + "0")
    assert clean_id_code(f"  {valid} ") == valid


@pytest.mark.parametrize(
    ("value", "error_code"),
    [
        ("3900101000", "id_code_length"),
        ("390010100071", "id_code_length"),
        ("3900101000a", "id_code_format"),
        ("", "id_code_format"),
        ("٣٩٠٠١٠١٠٠٠٧", "id_code_format"),  # Arabic-Indic digits are digits to Python, not to us
        ("39001010008", "id_code_checksum"),
        ("39013010008", "id_code_birth_date"),
    ],
)
def test_invalid_codes_get_their_own_message_naming_the_code(value, error_code):
    with pytest.raises(ValidationError) as caught:
        clean_id_code(value)
    error = caught.value.error_list[0]
    assert error.code == error_code
    assert value.strip()[:20] in error.message % error.params


def test_the_birth_date_message_is_used_for_an_impossible_date():
    body = "3900230000"  # 30 February 1990
    with pytest.raises(ValidationError) as caught:
        clean_id_code(body + ee.ik.calc_check_digit(body + "0"))
    assert caught.value.error_list[0].code == "id_code_birth_date"


@given(
    birth=st.dates(min_value=date(1900, 1, 1), max_value=date.today() - timedelta(days=1)),
    female=st.booleans(),
    serial=st.integers(min_value=0, max_value=999),
)
def test_every_generated_valid_code_is_accepted(birth, female, serial):
    code = make_id_code(birth=birth, female=female, serial=serial)
    assert clean_id_code(code) == code


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_random_digit_strings_agree_with_the_reference_implementation(value):
    try:
        clean_id_code(value)
        ours = True
    except ValidationError:
        ours = False
    assert ours == ee.ik.is_valid(value)


@given(st.text(max_size=200))
def test_any_text_is_either_a_code_or_a_validation_error(value):
    with contextlib.suppress(ValidationError):
        clean_id_code(value)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("59401011234 69510101234", ["59401011234", "69510101234"]),
        ("  59401011234,69510101234; ", ["59401011234", "69510101234"]),
        ("59401011234\r\n69510101234\n", ["59401011234", "69510101234"]),
        ("59401011234 59401011234", ["59401011234"]),
        ("   ", []),
    ],
)
def test_several_codes_are_split_forgivingly(text, codes):
    assert split_id_codes(text) == codes


def test_masking_hides_the_serial_and_check_digit():
    assert mask_id_code("39001010007") == "3900101••••"
