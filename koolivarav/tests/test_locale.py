"""Estonian is the product's first language: every text of the UI has its Estonian form.
Russian is complete too: every message, page and e-mail a parent meets."""

import re
from datetime import date
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from koolivarav.accounts.tests.worker import forget_queued_tasks, run_queued_tasks
from koolivarav.applications.models import Application
from koolivarav.applications.services import (
    ApplicantData,
    reject_application,
    submit_application,
)
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory

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


# --- Russian ------------------------------------------------------------------------------------

RU_CATALOGUE = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES" / "django.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")
LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
START = reverse("applications:start")
CONFIRM = reverse("applications:confirm")
PARENT_CODE = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)


def _russian_messages():
    with RU_CATALOGUE.open("rb") as f:
        return [m for m in read_po(f, locale="ru") if m.id]


def _forms(message):
    """(msgid, msgstr) pairs: one for a plain message, one per plural form for a plural one."""
    if isinstance(message.id, str):
        return [(message.id, message.string)]
    singular, plural = message.id
    return [(singular if i == 0 else plural, s) for i, s in enumerate(message.string)]


def test_russian_is_offered_in_the_language_switch(school_client):
    page = school_client.get("/").content.decode()
    for code, name in [("et", "Eesti"), ("en", "English"), ("ru", "Русский")]:
        assert re.search(rf'value="{code}"\s+lang="{code}"[^>]*>\s*{name}\s*<', page), name


def test_every_message_has_a_russian_translation():
    assert [m.id for m in _russian_messages() if not all(s for _id, s in _forms(m))] == []


def test_no_russian_translation_is_left_fuzzy():
    with RU_CATALOGUE.open("rb") as f:
        catalogue = read_po(f, locale="ru")
    assert not catalogue.fuzzy  # a fuzzy header makes the compiler skip the whole catalogue
    assert [m.id for m in catalogue if m.id and m.fuzzy] == []


def test_russian_translations_keep_every_placeholder():
    broken = [
        msgid
        for message in _russian_messages()
        for msgid, string in _forms(message)
        if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(string))
    ]
    assert broken == []


def test_the_russian_catalogue_passes_the_compilers_checks():
    """What `make compile-messages` checks (python-format placeholders of every form)."""
    with RU_CATALOGUE.open("rb") as f:
        catalogue = read_po(f, locale="ru")
    assert [(m.id, [str(e) for e in errors]) for m, errors in catalogue.check()] == []


def test_russian_translations_read_as_russian():
    """Every translation that has words has Cyrillic ones (nothing left in English or Estonian),
    except a few that are names or international as they stand."""
    # Names that are the same in every language: the portal, and the ways of proving identity.
    as_is = {"Koolivärav", "Mobile-ID", "Smart-ID", "HarID"}
    latin_only = [
        m.id
        for m in _russian_messages()
        for msgid, string in _forms(m)
        if msgid not in as_is and LATIN.search(string) and not CYRILLIC.search(string)
    ]
    assert latin_only == []


class _VisibleText(HTMLParser):
    """The text a reader sees or hears: text nodes and the labels in attributes, with the
    language each is marked as (lang="…" of the nearest element), outside script and style."""

    VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
    LABELS = ("aria-label", "title", "alt", "placeholder")

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str | None]] = []
        self.texts: list[tuple[str, str | None]] = []

    def _lang(self) -> str | None:
        return next((lang for _tag, lang in reversed(self.stack) if lang), None)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        lang = attributes.get("lang")
        for name in self.LABELS:
            if attributes.get(name):
                self.texts.append((attributes[name], lang or self._lang()))
        if tag == "input" and attributes.get("type") in ("submit", "button"):
            self.texts.append((attributes.get("value") or "", lang or self._lang()))
        if tag not in self.VOID:
            self.stack.append((tag, lang))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if any(tag in ("script", "style", "title") for tag, _lang in self.stack):
            return
        if data.strip():
            self.texts.append((" ".join(data.split()), self._lang()))


def untranslated_texts(html: str, names: list[str]) -> list[str]:
    """The visible texts of a Russian page that are not Russian.

    A text counts as Russian when it has Cyrillic letters, or has no Latin letters left once
    names, codes and addresses (which stay as written) are taken out; a text in another
    language on purpose says so with lang (the language switch's "Eesti", "English").
    """
    english = {}
    for message in _russian_messages():
        english.update(_forms(message))
    parser = _VisibleText()
    parser.feed(html)
    found = []
    for text, lang in parser.texts:
        if lang and lang != "ru":
            continue
        if text in english and english[text] != text:
            found.append(text)
            continue
        rest = text
        for name in sorted([*names, "Koolivärav"], key=len, reverse=True):
            rest = rest.replace(name, " ")
        rest = re.sub(r"\S+@\S+|https?://\S+|\b\d+\.?\w?\b", " ", rest)
        if LATIN.search(rest) and not CYRILLIC.search(text):
            found.append(text)
    return found


@pytest.fixture
def russian_client(school_client):
    school_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    return school_client


@pytest.fixture
def children(school):
    return [StudentFactory(school=school), StudentFactory(school=school)]


def _step1(children, **changes):
    return {
        "child_id_codes": " ".join(c.id_code for c in children),
        "parent_id_code": PARENT_CODE,
        "first_name": "Jelena",
        "last_name": "Ivanova",
        "email": "jelena.ivanova@example.ee",
        "phone": "5551 2345",
        **changes,
    }


def _names(school, *people):
    names = [school.name]
    for person in people:
        names += [person.first_name, person.last_name]
        names += [getattr(person, "email", ""), getattr(person, "class_name", "")]
    return [n for n in names if n]


def _assert_russian(response, names):
    assert response.status_code in (200, 404, 429), response.status_code
    html = response.content.decode()
    assert '<html lang="ru">' in html
    assert untranslated_texts(html, names) == []


def test_the_heuristic_finds_english_and_estonian_left_in_a_page():
    html = (
        '<html lang="ru"><body><p>Ваши данные сохранены.</p><p>Your data has been saved.</p>'
        '<p>Taotlus on esitatud</p><button lang="et">Eesti</button><p>Jelena Ivanova</p>'
        '<input type="submit" value="Save"><a aria-label="Account and language">я</a></body></html>'
    )
    assert untranslated_texts(html, ["Jelena", "Ivanova"]) == [
        "Your data has been saved.",
        "Taotlus on esitatud",
        "Save",
        "Account and language",
    ]


def test_the_public_pages_are_all_in_russian(russian_client, school, children):
    names = _names(school, *children)
    _assert_russian(russian_client.get("/"), names)
    _assert_russian(russian_client.get(START), names)
    # step 1 with every kind of error message the form gives
    errors = russian_client.post(
        START,
        _step1(
            children, child_id_codes="123", first_name="Елена", last_name="", email="x", phone="1"
        ),
    )
    assert errors.status_code == 200
    _assert_russian(errors, names)
    assert russian_client.post(START, _step1(children)).status_code == 302
    _assert_russian(russian_client.get(CONFIRM), [*names, "Jelena", "Ivanova"])
    mismatch = russian_client.post(CONFIRM, {"email_again": "other@example.ee"})
    _assert_russian(mismatch, [*names, "Jelena", "Ivanova"])
    submitted = russian_client.post(
        CONFIRM, {"email_again": "jelena.ivanova@example.ee"}, follow=True
    )
    _assert_russian(submitted, [*names, "Jelena", "Ivanova", "jelena.ivanova@example.ee"])
    _assert_russian(russian_client.get("/no-such-page/"), names)


def test_the_password_reset_pages_are_in_russian(russian_client, school):
    names = _names(school)
    _assert_russian(russian_client.get(reverse("accounts:password_reset")), names)
    sent = russian_client.post(
        reverse("accounts:password_reset"), {"email": "mari@example.ee"}, follow=True
    )
    _assert_russian(sent, names)
    expired = russian_client.get(
        reverse("accounts:password_reset_confirm", args=["MQ", "set-password"]), follow=True
    )
    _assert_russian(expired, names)


def test_the_parents_pages_are_in_russian(russian_client, school, parent, student):
    parent.children.add(student)
    russian_client.force_login(parent)
    names = _names(school, parent, student)
    _assert_russian(russian_client.get("/"), names)
    _assert_russian(russian_client.get(reverse("accounts:profile")), names)
    _assert_russian(russian_client.get(reverse("accounts:child", args=[student.pk])), names)
    saved = russian_client.post(
        reverse("accounts:profile"), {"phone": "5551 2345", "address": "Aia tn 5"}, follow=True
    )
    _assert_russian(saved, [*names, "Aia tn 5"])


def test_the_too_many_attempts_page_is_in_russian(russian_client, school, children, settings):
    limits = {**settings.KOOLIVARAV["RATE_LIMITS"], "application_form_per_address": (1, 3600)}
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "RATE_LIMITS": limits}
    russian_client.post(START, _step1(children))
    response = russian_client.post(START, _step1(children))
    assert response.status_code == 429
    _assert_russian(response, _names(school))


# --- names as in the ID document ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("ru", "латинскими буквами"),
        ("en", "in Latin letters"),
    ],
)
@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_a_name_in_cyrillic_is_refused_in_the_pages_language(
    school_client, children, language, message, field
):
    school_client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = school_client.post(START, _step1(children, **{field: "Елена-Мария"}))
    errors = [str(e) for e in response.context["form"].errors[field]]
    assert len(errors) == 1
    assert message in errors[0]


@pytest.mark.parametrize("name", ["Jelena", "Žanna", "Ülle-Õie", "Şükrü", "Łucja", "O'Brien"])
def test_latin_names_with_diacritics_are_accepted(school_client, children, name):
    response = school_client.post(START, _step1(children, first_name=name))
    assert response.status_code == 302


def test_a_name_mixing_latin_and_cyrillic_letters_is_refused(school_client, children):
    # "Jelena" with a Cyrillic "e" (U+0435): looks Latin, never matches the ID document
    response = school_client.post(START, _step1(children, first_name="J\u0435lena"))
    assert response.context["form"].errors["first_name"]


# --- e-mails in the application's language ------------------------------------------------------


def test_an_application_made_in_russian_is_recorded_as_russian(russian_client, children):
    russian_client.post(START, _step1(children))
    russian_client.post(CONFIRM, {"email_again": "jelena.ivanova@example.ee"})
    assert Application.objects.get().language == "ru"


def test_the_rejection_email_of_a_russian_application_is_russian(
    school, school_admin, children, smtp_server
):
    data = ApplicantData(
        parent_id_code=PARENT_CODE,
        first_name="Jelena",
        last_name="Ivanova",
        email="jelena.ivanova@example.ee",
        phone="+37255512345",
        child_id_codes=(children[0].id_code,),
    )
    application = submit_application(school=school, data=data, language="ru")
    Application.objects.filter(pk=application.pk).update(status=Application.Status.PENDING)
    reject_application(
        application_id=application.pk,
        decided_by=school_admin,
        reason="Школа не смогла подтвердить данные заявления.",
    )
    deliver_due_emails()
    message = next(
        m
        for m in smtp_server.messages
        if m["To"] == "jelena.ivanova@example.ee" and "не одобрено" in m["Subject"]
    )
    assert message["From"] == "Jõgeva Põhikool <robot@ope.ee>"
    body = message.get_body(("plain",)).get_content()
    assert "Здравствуйте!" in body
    assert "не одобрила ваше заявление" in body
    assert "Tere" not in body
    assert "Hello" not in body


def test_the_password_reset_email_asked_for_in_russian_is_russian(
    russian_client, parent, smtp_server, django_capture_on_commit_callbacks
):
    forget_queued_tasks()
    with django_capture_on_commit_callbacks(execute=True):
        russian_client.post(reverse("accounts:password_reset"), {"email": parent.email})
    run_queued_tasks()
    message = next(m for m in smtp_server.messages if m["To"] == parent.email)
    assert message["Subject"].endswith("Новый пароль")
    body = message.get_body(("plain",)).get_content()
    assert "Откройте эту ссылку и задайте новый пароль:" in body


# Every e-mail but the login details, whose Estonian and English lines are the school guide's
# own and are sent to every parent as they stand.
EMAIL_TEMPLATES = sorted(
    str(path.relative_to(path.parents[2])).removesuffix(".subject.txt")
    for path in Path(settings.BASE_DIR, "koolivarav").glob("*/templates/*/email/*.subject.txt")
    if not path.name.startswith("login_details.")
)


def _as_page(text: str) -> str:
    lines = "".join(f"<p>{escape(line)}</p>" for line in text.splitlines() if line.strip())
    return f'<html lang="ru"><body>{lines}</body></html>'


@pytest.mark.parametrize("template", EMAIL_TEMPLATES)
def test_every_email_renders_in_russian(template, school, children):
    context = {
        "school": school,
        "portal_url": school.portal_url,
        "first_name": "Jelena",
        "last_name": "Ivanova",
        "children": children,
        "children_count": 2,
        "changed_at": "01.12.2026 10:42",
        "submitted": "01.12.2026",
        "expires_at": "06.12.2026 10:42",
        "days": 7,
        "link_days": 7,
        "held": True,
        "reason": "Школа не смогла подтвердить данные заявления.",
        "reset_url": "https://jpk.example.ee/password-reset/MQ/token/",
        "review_url": "https://jpk.example.ee/admin/applications/application/1/change/",
        "status_url": "https://jpk.example.ee/apply/status/token/",
        "role": "родитель",
        # The administrators' daily digest (operations.digests): counts and lines, no names.
        "waiting": 3,
        "matching": 1,
        "more": 1,
        "hour": 8,
        "queue_url": "https://jpk.example.ee/admin/applications/application/",
        "matching_url": "https://jpk.example.ee/admin/applications/application/?records=all",
        "lines": [
            {
                "submitted": "01.12.2026 10:42",
                "children": 2,
                "records": "all",
                "confirmed": True,
                "identity_method": "smartid",
                "url": "https://jpk.example.ee/admin/applications/application/1/change/",
            }
        ],
    }
    names = [*_names(school, *children), "Jelena", "Ivanova"]
    with translation.override("ru"):
        subject = render_to_string(f"{template}.subject.txt", context)
        body = render_to_string(f"{template}.txt", context)
        try:
            html = render_to_string(f"{template}.html", context)
        except TemplateDoesNotExist:
            html = None
    assert untranslated_texts(_as_page(subject), names) == []
    assert untranslated_texts(_as_page(body), names) == []
    if html is not None:
        assert untranslated_texts(html.replace("<html", '<html lang="ru"', 1), names) == []


def test_the_status_page_is_in_russian_in_every_state(
    russian_client, school, school_admin, children, settings
):
    from koolivarav.applications.services import (
        approve_application,
        receive_application,
        status_url,
    )

    school.office_email = "kantselei@jpk.example.ee"
    school.phone = "+3727761234"
    school.postal_address = "Tähe 3, 48105 Jõgeva"
    school.office_hours = "E-R 8.00-16.00"
    school.save()
    contact = ["kantselei@jpk.example.ee", "Tähe 3, 48105 Jõgeva", "E-R 8.00-16.00"]
    names = [*_names(school, *children), "Jelena", "Ivanova", *contact]

    def data(email):
        return ApplicantData(
            parent_id_code=PARENT_CODE,
            first_name="Jelena",
            last_name="Ivanova",
            email=email,
            phone="+37255512345",
            child_id_codes=(children[0].id_code,),
        )

    approved = receive_application(school=school, data=data("a@example.ee"), language="ru")
    url = status_url(approved).removeprefix(school.portal_url.rstrip("/"))
    _assert_russian(russian_client.get(url), names)  # received, address not confirmed
    token = url.partition("?t=")[2]
    status = reverse("applications:status")
    confirmed = russian_client.post(status, {"t": token}, follow=True)  # the button
    _assert_russian(confirmed, names)  # waiting for the school, with the thank-you
    approve_application(application_id=approved.pk, decided_by=school_admin)
    _assert_russian(russian_client.get(url), names)  # approved, login details sent

    rejected = receive_application(school=school, data=data("r@example.ee"), language="ru")
    Application.objects.filter(pk=rejected.pk).update(email_confirmed_at=rejected.created_at)
    reject_application(
        application_id=rejected.pk,
        decided_by=school_admin,
        reason="Школа не смогла подтвердить данные заявления.",
    )
    rejected_url = status_url(rejected).removeprefix(school.portal_url.rstrip("/"))
    _assert_russian(russian_client.get(rejected_url), names)  # the reason and the contact

    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "UNCONFIRMED_APPLICATION_DAYS": 0}
    expired = russian_client.get(url)
    _assert_russian(expired, names)
    resent = russian_client.post(reverse("applications:status_resend"), {"t": token})
    _assert_russian(resent, names)
