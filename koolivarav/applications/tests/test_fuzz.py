"""Arbitrary input at every field of both steps: never a 500, never an invalid application."""

from datetime import date

import phonenumbers
import pytest
from django.core.validators import validate_email
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from koolivarav.applications.forms import NAME_PATTERN as NAME
from koolivarav.applications.models import Application
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.idcodes import clean_id_code
from koolivarav.tests.figures import FIGURES

START = reverse("applications:start")
CONFIRM = reverse("applications:confirm")
PARENT = make_id_code(birth=date(1980, 1, 8), female=False, serial=571)

anything = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=5000),
    st.text(alphabet="\x00\x01\x1b\x7f\u200b\u202e\ufeff \t\r\n0123456789", max_size=40),
)


def field(valid: str) -> st.SearchStrategy[str]:
    """The valid value three times in four; else anything, or the valid value with noise."""
    broken = st.one_of(anything, st.builds(lambda a, b: a + valid + b, anything, anything))
    return st.integers(0, 3).flatmap(lambda k: st.just(valid) if k else broken)


@pytest.fixture
def fuzz_settings(settings):
    limits = dict.fromkeys(settings.KOOLIVARAV["RATE_LIMITS"], (10**9, 3600))
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "RATE_LIMITS": limits}


def assert_every_application_is_valid(school):
    for application in Application.objects.prefetch_related("children"):
        assert clean_id_code(application.parent_id_code) == application.parent_id_code
        assert NAME.match(application.first_name), application.first_name
        assert NAME.match(application.last_name), application.last_name
        validate_email(application.email)
        number = phonenumbers.parse(application.phone)
        assert phonenumbers.is_valid_number(number)
        assert application.phone == phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.E164
        )
        children = list(application.children.all())
        assert children
        assert all(c.school_id == application.school_id and c.is_active for c in children)
        assert application.parent_id_code not in {c.id_code for c in children}


@pytest.mark.slow
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_arbitrary_input_to_both_steps_never_fails_or_stores_invalid_data(
    data, school, student, fuzz_settings
):
    client = Client()
    step1 = {
        "child_id_codes": data.draw(field(student.id_code)),
        "parent_id_code": data.draw(field(PARENT)),
        "first_name": data.draw(field("Mari")),
        "last_name": data.draw(field("Maasikas")),
        "email": data.draw(field("mari@example.ee")),
        "phone": data.draw(field("+37255512345")),
    }
    # Drawn before the outcome is known: what is drawn must not depend on the database.
    again = data.draw(field(step1["email"]))
    response = client.post(START, step1)
    FIGURES["bad input: requests (application form)"] += 1
    FIGURES["bad input: requests in all"] += 1
    assert response.status_code in (200, 302)
    event(f"step 1 answered {response.status_code}")
    if response.status_code == 302:
        response = client.post(CONFIRM, {"email_again": again})
        FIGURES["bad input: requests (application form)"] += 1
        FIGURES["bad input: requests in all"] += 1
        assert response.status_code in (200, 302)
        event(f"step 2 answered {response.status_code}")
        if response.status_code == 302:
            FIGURES["bad input: applications stored (each re-validated)"] += 1
    assert_every_application_is_valid(school)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"child_id_codes=\xff\xfe&first_name=%ff%fe%00", "application/x-www-form-urlencoded"),
        (b"\x00\x01\x02" * 1000, "application/x-www-form-urlencoded"),
        (b'{"first_name": "Mari"}', "application/json"),
        (b"--x\r\nbroken multipart", "multipart/form-data; boundary=x"),
        (b"a=" + b"1" * 100_000, "application/x-www-form-urlencoded"),
        (b"a=1&" * 2000, "application/x-www-form-urlencoded"),
    ],
)
@pytest.mark.parametrize("url", [START, CONFIRM])
def test_malformed_bodies_get_a_page_not_an_error(school, url, body, content_type, fuzz_settings):
    response = Client(raise_request_exception=False).generic("POST", url, body, content_type)
    FIGURES["bad input: malformed bodies sent"] += 1
    assert response.status_code < 500
    assert Application.objects.count() == 0
