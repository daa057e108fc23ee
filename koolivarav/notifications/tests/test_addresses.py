"""Addresses the outbox can send to: what Django's validator accepts but its mailer refuses."""

import base64
import email
import email.policy
import smtplib
import string
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import sanitize_address
from django.core.validators import validate_email
from hypothesis import example, given, note
from hypothesis import strategies as st

from koolivarav.notifications.addresses import (
    UNDELIVERABLE,
    is_deliverable_email,
    validate_deliverable_email,
)

INJECTING = "=?utf-8?q?a=0D=0ABcc=3A_x=40y=2Eexample?=@example.ee"


def _django_accepts(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "address",
    [
        INJECTING,
        "=?utf-8?b?YQ0KQmNjOiB4QHkuZXhhbXBsZQ==?=@example.ee",  # the same in base64
        "=?utf-8?q?mari?=@example.ee",  # harmless inside, still decoded by the mailer
        '"a\x01b"@example.ee',  # the quotes are dropped on the way: a control character
        '"x>,<victim@evil.example"@example.ee',
        "mari@example\u2028.ee",  # a line separator, dropped by IDNA
        "mari@exa\ufeffmple.ee",  # a zero-width character, dropped by IDNA
        "mari@faß.de",  # IDNA 2003 sends it to fass.de
        "mari@" + "ä" * 63 + ".ee",  # a label too long once encoded
    ],
)
def test_addresses_djangos_validator_accepts_but_its_mailer_cannot_use_are_refused(address):
    assert _django_accepts(address)
    with pytest.raises(ValidationError) as refused:
        validate_deliverable_email(address)
    assert refused.value.code == UNDELIVERABLE


@pytest.mark.parametrize(
    "address",
    [
        "mari.maasikas@example.ee",
        "Mari.Maasikas@Example.EE",
        "jaan+kool@sub.example.ee",
        "o'brien@example.ie",
        "a/b=c?d@example.ee",  # "=" and "?" apart are ordinary characters
        "mari@jõgeva.ee",
        "mari@JÕGEVA.ee",
        "mari@xn--jgeva-nua.ee",
        "mari@[127.0.0.1]",
        "mari@localhost",
    ],
)
def test_ordinary_addresses_are_accepted(address):
    validate_deliverable_email(address)


def test_an_address_djangos_validator_refuses_is_left_to_it():
    validate_deliverable_email("not an address")  # EmailValidator gives the one message


def test_the_message_says_what_to_do_in_the_users_language():
    from django.utils import translation

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        validate_deliverable_email(INJECTING)
    with translation.override("en"):
        assert refused.value.messages == [
            "E-mail cannot be sent to this address. Please check it and type it again."
        ]
    with translation.override("et"):
        assert refused.value.messages == [
            "Sellele aadressile ei saa e-kirja saata. Palun kontrolli aadressi ja kirjuta see "
            "uuesti."
        ]


# --- any address both validators accept, the mailer sends as typed --------------------------

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
TRICKY = [
    "=?", "?=", "=?utf-8?q?", "=?utf-8?b?", "=0D=0A", "=0A", "\r", "\n", "\r\n", "\x00", "\x01",
    "\t", "\x0b", "\x0c", "\x1c", "\x7f", "\x85", "\u2028", "\u2029", "\ufeff", "\u200b", '"',
    "\\", "<", ">", ",", ";", ":", " ", "@", ".", "(", ")", "[", "]",
]  # fmt: skip
# Letters IDNA keeps, maps to others (ß, dotless i, the fi ligature, a full-width A), or drops.
LETTERS = st.sampled_from(
    [
        *["a", "õ", "ä", "ö", "ü", "š", "ž", "ß", "\u0130", "\u0131", "\ufb01", "\uff21"],
        *["\u0301", "\u00a0", "\u2028", "\ufeff"],
    ]
)


def _encoded_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


local_parts = st.one_of(
    st.lists(st.one_of(st.text(ATEXT, min_size=1, max_size=4), st.sampled_from(TRICKY)),
             min_size=1, max_size=8).map("".join),
    st.lists(st.one_of(st.text(ATEXT, max_size=4), st.sampled_from(TRICKY)),
             max_size=6).map(lambda parts: '"' + "".join(parts) + '"'),
    st.text(max_size=12).map(_encoded_word),
)  # fmt: skip
labels = st.one_of(
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=6),
    st.lists(st.one_of(st.text(string.ascii_lowercase, min_size=1, max_size=3), LETTERS),
             min_size=1, max_size=5).map("".join),
    st.just("ä" * 63),
)  # fmt: skip
domains = st.one_of(
    st.lists(labels, min_size=1, max_size=3).map(lambda ls: ".".join([*ls, "ee"])),
    st.sampled_from(["[127.0.0.1]", "localhost", "example.ee"]),
)
addresses = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)


def _build_and_send_locally(address: str) -> tuple[str, email.message.EmailMessage]:
    """What the SMTP backend does with the address: the envelope and the message bytes."""
    envelope = sanitize_address(address, "utf-8")
    message = EmailMultiAlternatives(
        subject="Tere", body="Tere!", from_email="robot@ope.ee", to=[address]
    )
    message.attach_alternative("<p>Tere!</p>", "text/html")
    raw = message.message().as_bytes(linesep="\r\n")
    return envelope, email.message_from_bytes(raw, policy=email.policy.default)


@given(addresses)
@example(INJECTING)
@example('"x>,<victim@evil.example"@example.ee')
def test_an_address_both_validators_accept_is_sent_to_exactly_as_typed(address):
    if not _django_accepts(address):
        return
    try:
        validate_deliverable_email(address)
    except ValidationError:
        note(f"refused: {address!r}")
        return
    envelope, received = _build_and_send_locally(address)
    assert smtplib.quoteaddr(envelope) == f"<{envelope}>"
    assert envelope.isascii()
    assert envelope.isprintable()
    (to,) = received["To"].addresses
    assert to.addr_spec.lower() == envelope.lower()
    assert received["Bcc"] is None
    assert received["Cc"] is None
    assert set(received.keys()) <= {
        "Content-Type", "MIME-Version", "Subject", "From", "To", "Date", "Message-ID",
    }  # fmt: skip


@given(st.emails())
def test_every_ordinary_address_djangos_validator_accepts_is_accepted(address):
    if _django_accepts(address):
        assert is_deliverable_email(address)


@given(st.text(max_size=20), domains)
def test_an_encoded_word_in_the_local_part_is_always_refused(text, domain):
    address = f"{_encoded_word(text)}@{domain}"
    assert not is_deliverable_email(address)


# --- the forms that take an address the product sends to ------------------------------------


def _step1(client, school, email_address):
    from django.urls import reverse

    from koolivarav.schools.demo import make_id_code
    from koolivarav.schools.tests.factories import StudentFactory

    student = StudentFactory(school=school)
    return client.post(
        reverse("applications:start"),
        {
            "child_id_codes": student.id_code,
            "parent_id_code": make_id_code(birth=date(1984, 5, 17), female=True, serial=271),
            "first_name": "Mari",
            "last_name": "Maasikas",
            "email": email_address,
            "phone": "5551 2345",
        },
    )


def test_the_application_form_refuses_the_address_next_to_the_field(school_client, school):
    response = _step1(school_client, school, INJECTING)
    assert response.status_code == 200
    form = response.context["form"]
    assert [error.code for error in form.errors.as_data()["email"]] == [UNDELIVERABLE]
    assert "Bcc" not in response.content.decode().replace(INJECTING, "")


def test_the_confirmation_form_refuses_the_address_too():
    from koolivarav.applications.forms import EmailConfirmationForm

    form = EmailConfirmationForm(data={"email_again": INJECTING}, expected_email=INJECTING)
    assert not form.is_valid()
    assert [error.code for error in form.errors.as_data()["email_again"]] == [UNDELIVERABLE]


def test_the_application_form_gives_one_message_for_an_address_that_is_not_one(
    school_client, school
):
    response = _step1(school_client, school, "mari at example.ee")
    form = response.context["form"]
    assert [error.code for error in form.errors.as_data()["email"]] == ["invalid"]
