"""Normalisation of people's names as typed or imported."""

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Letters of any alphabet, joined by single spaces, hyphens or apostrophes: "Mari-Liis",
# "O'Connor", "Õun", "Žanna". Digits and symbols are not names.
NAME_PATTERN = re.compile(r"^[^\W\d_]+(?:[ '\u2019-][^\W\d_]+)*$")
# A class as schools write it: "7.b", "10A", "1. klass", "IV b", "11/12".
CLASS_PATTERN = re.compile(r"^[^\W_]+(?:[ ./-]+[^\W_]+)*\.?$")


def normalize_name(value: str) -> str:
    """NFC-normalise, trim and collapse inner white space.

    "Mäe" typed with a combining diaeresis and "Mäe" typed precomposed become the same
    string, so lookups and the uniqueness of names do not depend on the keyboard.
    """
    return " ".join(unicodedata.normalize("NFC", value).split())


def name_key(first_name: str, last_name: str) -> str:
    """The form of a full name used to find a person by it: no spaces, case-folded, NFC.

    "Mari Maasikas", "mari maasikas" and "MariMaasikas" all give "marimaasikas".
    """
    joined = normalize_name(f"{first_name}{last_name}").replace(" ", "")
    return unicodedata.normalize("NFC", joined.casefold())


def validate_person_name(value: str) -> None:
    """A first or last name: letters, with single spaces, hyphens or apostrophes between."""
    if not NAME_PATTERN.match(value):
        raise ValidationError(
            _("Please use only letters, spaces, hyphens and apostrophes."), code="name_characters"
        )


def validate_class_name(value: str) -> None:
    """A class as schools write it ("7.b", "10A", "1. klass"): letters, digits and . / - ."""
    if not CLASS_PATTERN.match(value):
        raise ValidationError(
            _("Write the class with letters and digits, for example 7.b."), code="class_characters"
        )
