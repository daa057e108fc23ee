"""A school office's phone number: typed as people write it, stored in E.164, shown in the
national format (an Estonian number) or the international one (any other).

The rule is the one the parents' phones follow (accounts/phones.py); it lives here too because
`schools` imports no other app.
"""

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

PHONE_INVALID = _(
    "This is not a valid phone number. An Estonian number needs no prefix; "
    "a foreign one starts with + and the country code."
)


def _parse(text: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, "EE")
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def normalize_phone(text: str) -> str:
    """ "776 1234" → "+3727761234"; a foreign number needs its + and country code."""
    number = _parse(text)
    if number is None:
        raise ValidationError(PHONE_INVALID, code="phone_invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_as_written(stored: str) -> str:
    """ "+3727761234" → "776 1234"; "+358401234567" → "+358 40 1234567"."""
    number = _parse(stored)
    if number is None:  # not stored by the form (an old row, the shell): shown as it is
        return stored
    if number.country_code == 372:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
