"""Every e-mail as a mail client receives it: through a real SMTP server, parsed by the
standard library. Headers decode to the intended subject and sender, there is a plain-text
and an HTML part, and the HTML part says what the plain text says."""

import email.message
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from koolivarav.accounts.services import send_login_details
from koolivarav.notifications.services import deliver_due_emails, queue_email

from .emails import SAMPLES, email_templates

pytestmark = pytest.mark.django_db

TALLINN = ZoneInfo("Europe/Tallinn")


class _Text(HTMLParser):
    """The words a reader sees in an HTML e-mail, but for the head and the header bar (the
    school's name, which the subject line also gives)."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("head", "style", "title", "header"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("head", "style", "title", "header"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.words += data.split()


def _words_of_html(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.words


def _words_of_text(text: str) -> list[str]:
    # "----" separates the two languages of the login e-mail and "-" starts a list item: the
    # HTML part draws a line and a list.
    return [word for word in text.split() if word not in ("----", "-")]


def _parts(message: email.message.EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None, "no plain-text part"
    assert html is not None, "no HTML part"
    return plain.get_content(), html.get_content()


def _subject(template: str, context: dict, school, language: str) -> str:
    with translation.override(language):
        text = render_to_string(f"{template}.subject.txt", {**context, "school": school})
    return " ".join(text.split())


def test_every_email_template_has_an_html_part_and_a_sample():
    root = Path(settings.BASE_DIR) / "koolivarav"
    for template in email_templates():
        app = template.partition("/")[0]
        assert (root / app / "templates" / f"{template}.html").exists(), template
        assert template in SAMPLES, f"{template}: add a sample context to tests/emails.py"


@pytest.mark.parametrize("language", ["et", "en"])
@pytest.mark.parametrize("template", sorted(SAMPLES))
def test_each_email_decodes_to_its_subject_and_sender_with_both_parts(
    template, language, school, smtp_server
):
    context = SAMPLES[template]
    queue_email(
        school=school,
        to="mari.maasikas@example.ee",
        kind="tests.sample",
        template=template,
        context=context,
        language=language,
    )
    deliver_due_emails()
    (message,) = smtp_server.messages

    assert message["From"] == "Jõgeva Põhikool <robot@ope.ee>"
    assert message["From"].addresses[0].display_name == "Jõgeva Põhikool"
    assert message["Subject"] == _subject(template, context, school, language)
    assert message["Subject"].startswith("[Jõgeva Põhikool] ")
    plain, html = _parts(message)
    assert _words_of_html(html) == _words_of_text(plain)
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert f'<html lang="{language}"' in html


def test_text_typed_by_people_is_escaped_in_the_html_part(school, smtp_server):
    queue_email(
        school=school,
        to="mari.maasikas@example.ee",
        kind="tests.sample",
        template="applications/email/rejected",
        context={"reason": 'Vale <b>kool</b> & "muu"'},
    )
    deliver_due_emails()
    plain, html = _parts(smtp_server.messages[0])
    assert 'Vale <b>kool</b> & "muu"' in plain
    assert "Vale &lt;b&gt;kool&lt;/b&gt; &amp; &quot;muu&quot;" in html


def test_login_details_keep_the_guides_lines_and_say_until_when_the_password_works(
    school, parent, smtp_server
):
    with time_machine.travel(datetime(2026, 11, 29, 10, 42, 30, tzinfo=TALLINN), tick=False):
        send_login_details(user=parent)
        deliver_due_emails()
    (message,) = smtp_server.messages
    assert message["From"] == "Jõgeva Põhikool <robot@ope.ee>"
    assert message["Subject"] == "[Jõgeva Põhikool] Hindamissüsteemi konto / New account"
    plain, html = _parts(message)
    lines = [line for line in plain.splitlines() if line.strip()]
    password = lines[3].removeprefix("Ajutine salasõna on: ")
    assert lines[:7] == [
        "Tere,",
        "sulle on loodud uus konto kooli hindamissüsteemi kasutamiseks.",
        "Sisse saad logida aadressil https://jpk.example.ee/",
        f"Ajutine salasõna on: {password}",
        "(Seda saad muuta pärast sisse logimist oma profiilist.)",
        "Sisselogimisel on kasutajanimeks meiliaadress või ees- ja perekonnanimi (võib kirjutada "
        "kokku või lahku, suure või väikese algustähega).",
        # Seven days (TEMPORARY_PASSWORD_DAYS) after sending, in Estonian time.
        "Ajutine salasõna kehtib kuni 06.12.2026 kell 10:42.",
    ]
    assert "The temporary password works until 6 December 2026, 10:42 (Estonian time)." in lines
    parent.refresh_from_db()
    assert (
        timezone.localtime(parent.temporary_password_expires_at, TALLINN).strftime("%d.%m.%Y %H:%M")
        == "06.12.2026 10:42"
    )
    assert parent.check_password(password)
    assert "Ajutine salasõna kehtib kuni 06.12.2026 kell 10:42." in html
    assert _words_of_html(html) == _words_of_text(plain)


@pytest.mark.parametrize(("language", "russian"), [("et", False), ("en", False), ("ru", True)])
def test_login_details_add_a_russian_part_for_a_russian_speaking_parent(
    school, parent, smtp_server, language, russian
):
    parent.language = language
    parent.save()
    with time_machine.travel(datetime(2026, 11, 29, 10, 42, 30, tzinfo=TALLINN), tick=False):
        send_login_details(user=parent)
        deliver_due_emails()
    (message,) = smtp_server.messages
    plain, html = _parts(message)
    lines = [line for line in plain.splitlines() if line.strip()]
    assert lines[0] == "Tere,"  # the guide's lines first, whatever the language
    password = lines[3].removeprefix("Ajutine salasõna on: ")
    expected = [
        "Здравствуйте!",
        f"Временный пароль: {password}",
        "Временный пароль действует до 06.12.2026 10:42 (по эстонскому времени).",
    ]
    assert all(line in lines for line in expected) is russian
    assert ('<div lang="ru">' in html) is russian
    assert _words_of_html(html) == _words_of_text(plain)
