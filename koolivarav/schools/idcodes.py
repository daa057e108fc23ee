"""Estonian personal identification codes (isikukood): checking, and reading lists of them.

The checksum and the birth date are python-stdnum's business; this module only turns its
exceptions into stable error codes with translatable messages that name the code.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum import ee
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
)
from stdnum.exceptions import (
    ValidationError as StdnumError,
)

ID_CODE_LENGTH = 11

# One message per way a code can be wrong; %(code)s is the code as the user typed it.
ERROR_MESSAGES = {
    "id_code_length": _("“%(code)s” is not an ID code: an Estonian ID code has 11 digits."),
    "id_code_format": _("“%(code)s” is not an ID code: it may contain only digits."),
    "id_code_checksum": _(
        "ID code “%(code)s” is not valid: its last digit (the check digit) does not match. "
        "Please check for a typing error."
    ),
    "id_code_birth_date": _(
        "ID code “%(code)s” is not valid: it does not contain a real date of birth."
    ),
}

_SEPARATORS = re.compile(r"[\s,;]+")


def _error(code_key: str, value: str) -> ValidationError:
    shown = value if len(value) <= 20 else value[:20] + "…"
    return ValidationError(ERROR_MESSAGES[code_key], code=code_key, params={"code": shown})


def clean_id_code(value: str) -> str:
    """Return the code with surrounding spaces removed, or raise ValidationError naming it."""
    code = value.strip()
    if not code.isascii() or not code.isdigit():
        raise _error("id_code_format", code)
    if len(code) != ID_CODE_LENGTH:
        raise _error("id_code_length", code)
    try:
        return ee.ik.validate(code)
    except InvalidChecksum:
        raise _error("id_code_checksum", code) from None
    except InvalidComponent:
        raise _error("id_code_birth_date", code) from None
    except (InvalidFormat, InvalidLength, StdnumError):
        raise _error("id_code_format", code) from None


def validate_id_code(value: str) -> None:
    """Model-field validator form of clean_id_code."""
    clean_id_code(value)


def split_id_codes(text: str) -> list[str]:
    """Split a field that holds several codes; forgiving about separators and repeats.

    Spaces, commas, semicolons and line breaks all separate; the order of first appearance
    is kept and a code given twice is kept once. Nothing is validated here.
    """
    seen: dict[str, None] = {}
    for part in _SEPARATORS.split(text):
        if part:
            seen.setdefault(part, None)
    return list(seen)


def mask_id_code(code: str) -> str:
    """Show only the birth-date part, for places where the full code is not needed."""
    if len(code) != ID_CODE_LENGTH:
        return "•" * len(code)
    return code[:7] + "••••"
