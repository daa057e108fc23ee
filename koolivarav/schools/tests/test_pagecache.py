"""Cached first-visit pages: every copy carries a working CSRF token of its own."""

import re
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from koolivarav.applications.views import STEP1_KEY
from koolivarav.schools.demo import make_id_code

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _tokens(response) -> list[str]:
    return TOKEN.findall(response.content.decode())


@pytest.mark.parametrize(
    "url", ["/", reverse("applications:start"), reverse("accounts:password_reset")]
)
def test_a_cached_page_has_a_fresh_token_that_works(school, url):
    first = Client(enforce_csrf_checks=True)
    second = Client(enforce_csrf_checks=True)
    a, b = first.get(url), second.get(url)
    assert _tokens(a)
    assert _tokens(b)
    assert set(_tokens(a)).isdisjoint(_tokens(b))
    assert TOKEN.sub("", a.content.decode()) == TOKEN.sub("", b.content.decode())
    response = second.post(
        "/", {"csrfmiddlewaretoken": _tokens(b)[0], "username": "x", "password": "y" * 9}
    )
    assert response.status_code == 200  # through the CSRF check to the form's own answer


def test_another_visitors_token_does_not_work(school):
    first = Client(enforce_csrf_checks=True)
    second = Client(enforce_csrf_checks=True)
    token_of_first = _tokens(first.get("/"))[0]
    second.get("/")
    response = second.post(
        "/", {"csrfmiddlewaretoken": token_of_first, "username": "x", "password": "y" * 9}
    )
    assert response.status_code == 403


def test_each_language_has_its_own_copy(school):
    estonian = Client(headers={"accept-language": "et"}).get("/").content.decode()
    english = Client(headers={"accept-language": "en"}).get("/").content.decode()
    assert "Logi sisse" in estonian
    assert "Log in" in english


def test_a_visitor_with_step_1_data_sees_their_own_form(school, student):
    client = Client()
    client.get(reverse("applications:start"))  # the anonymous copy is cached
    response = client.post(
        reverse("applications:start"),
        {
            "child_id_codes": student.id_code,
            "parent_id_code": make_id_code(birth=date(1980, 1, 8), female=False, serial=571),
            "first_name": "Kaur",
            "last_name": "Kask",
            "email": "k@example.ee",
            "phone": "5551 2345",
        },
    )
    assert response.status_code == 302
    assert STEP1_KEY in client.session
    page = client.get(reverse("applications:start")).content.decode()
    assert 'value="Kaur"' in page


def test_a_page_with_a_query_string_is_not_taken_from_the_cache(school):
    Client().get("/")
    page = Client().get("/?next=/profile/").content.decode()
    assert 'name="next" value="/profile/"' in page


def test_a_school_rename_shows_at_once(school):
    Client().get("/")
    school.name = "Jõgeva Gümnaasium"
    school.save()
    assert "Jõgeva Gümnaasium" in Client().get("/").content.decode()
