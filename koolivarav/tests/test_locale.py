"""Estonian is the product's first language: every text of the UI has its Estonian form."""

from pathlib import Path

from babel.messages.pofile import read_po
from django.conf import settings

ET_CATALOGUE = Path(settings.BASE_DIR) / "locale" / "et" / "LC_MESSAGES" / "django.po"


def _messages():
    with ET_CATALOGUE.open("rb") as f:
        return [m for m in read_po(f, locale="et") if m.id]


def test_every_message_has_an_estonian_translation():
    untranslated = [
        m.id for m in _messages() if not (m.string if isinstance(m.id, str) else all(m.string))
    ]
    assert untranslated == []


def test_no_estonian_translation_is_left_fuzzy():
    assert [m.id for m in _messages() if m.fuzzy] == []


def test_placeholders_survive_translation():
    for message in _messages():
        if isinstance(message.id, str):
            for placeholder in ("%(code)s", "%(row)s", "%(name)s", "%(columns)s"):
                assert (placeholder in message.id) == (placeholder in message.string), message.id
