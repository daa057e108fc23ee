"""Phone numbers as typed by Estonian parents, stored in E.164."""

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

PHONE_INVALID = _(
    "This is not a valid phone number. An Estonian number needs no prefix; "
    "a foreign one starts with + and the country code."
)


def normalize_phone(text: str) -> str:
    """ "5551 2345" → "+37255512345"; a foreign number needs its + and country code."""
    try:
        number = phonenumbers.parse(text, "EE")
    except phonenumbers.NumberParseException:
        raise ValidationError(PHONE_INVALID, code="phone_invalid") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(PHONE_INVALID, code="phone_invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """A stored number as people write it: "+37255512345" → "5551 2345" (an Estonian number
    in the national format), "+358401234567" → "+358 40 1234567"; anything else as stored."""
    try:
        number = phonenumbers.parse(e164, "EE")
    except phonenumbers.NumberParseException:
        return e164
    if not phonenumbers.is_valid_number(number):
        return e164
    if phonenumbers.region_code_for_number(number) == "EE":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
