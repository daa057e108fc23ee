"""Normalisation of people's names as typed or imported."""

import unicodedata


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
