"""ID codes stay out of the admin's web addresses: a POSTed "find by ID code", and a search
box that refuses codes (an address reaches access logs, history and every link of a page)."""

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from koolivarav.accounts.tests.factories import log_in_as_administrator
from koolivarav.schools.tests.factories import StudentFactory

CHANGELIST = reverse("admin:schools_student_changelist")
FIND = reverse("admin:schools_student_find_by_id_code")


@pytest.fixture(autouse=True)
def _english(admin_client_of_school):
    admin_client_of_school.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_student_list_offers_a_posted_find_by_id_code(admin_client_of_school, student):
    page = admin_client_of_school.get(CHANGELIST).content.decode()
    form = re.search(rf'<form method="post"\s+action="{FIND}">(.*?)</form>', page, re.S)
    assert form is not None
    assert 'name="csrfmiddlewaretoken"' in form.group(1)
    assert 'name="id_code"' in form.group(1)


def test_a_code_on_the_list_opens_the_students_page_by_its_number(admin_client_of_school, student):
    response = admin_client_of_school.post(FIND, {"id_code": f" {student.id_code} "})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:schools_student_change", args=[student.pk])


def test_another_schools_student_is_not_found(admin_client_of_school, other_school):
    theirs = StudentFactory(school=other_school)
    response = admin_client_of_school.post(FIND, {"id_code": theirs.id_code})
    assert response["Location"] == CHANGELIST
    assert _messages(response) == ["Nobody on this list has that ID code."]


@pytest.mark.parametrize("typed", ["39001010008", "3900101000", "abc", ""])
def test_a_wrong_code_is_refused_without_repeating_it(admin_client_of_school, typed):
    response = admin_client_of_school.post(FIND, {"id_code": typed})
    assert response["Location"] == CHANGELIST
    (message,) = _messages(response)
    assert typed == "" or typed not in message


def test_finding_needs_a_post_with_the_csrf_token(school, school_admin, student):
    client = Client(HTTP_HOST="jpk.example.ee", enforce_csrf_checks=True)
    log_in_as_administrator(client, school_admin)
    assert client.post(FIND, {"id_code": student.id_code}).status_code == 403
    response = client.get(FIND, {"id_code": student.id_code})
    assert response["Location"] == CHANGELIST  # a GET looks nothing up


def test_finding_needs_the_admin(school_client, parent, student):
    school_client.force_login(parent)
    response = school_client.post(FIND, {"id_code": student.id_code})
    assert "/admin/login/" in response["Location"]


def test_an_operator_sees_every_school_with_that_code(operator, school, other_school):
    ours = StudentFactory(school=school)
    theirs = StudentFactory(school=other_school, id_code=ours.id_code)
    client = Client(HTTP_HOST="jpk.example.ee")
    log_in_as_administrator(client, operator)
    page = client.post(FIND, {"id_code": ours.id_code}).content.decode()
    for student in (ours, theirs):
        assert reverse("admin:schools_student_change", args=[student.pk]) in page
    assert ours.id_code not in page


@pytest.mark.parametrize(
    "query", ["{code}", "Mari {code}", "{spaced}", "{dashed}"], ids=["code", "name", "sp", "dash"]
)
def test_a_code_in_the_search_box_is_dropped_with_a_word_on_the_find_box(
    admin_client_of_school, student, query
):
    code = student.id_code
    q = query.format(code=code, spaced=f"{code[:6]} {code[6:]}", dashed=f"{code[:6]}-{code[6:]}")
    response = admin_client_of_school.get(CHANGELIST, {"q": q, "is_active__exact": "1"})
    assert response.status_code == 302
    assert response["Location"] == f"{CHANGELIST}?is_active__exact=1"
    assert "Use “Find by ID code” instead." in _messages(response)[0]


def test_a_code_in_any_parameter_of_any_list_is_dropped(admin_client_of_school, student):
    url = reverse("admin:accounts_user_changelist")
    response = admin_client_of_school.get(url, {"id_code": student.id_code})
    assert response.status_code == 302
    assert response["Location"] == url


def test_the_search_box_still_finds_by_name_and_class(admin_client_of_school, school):
    StudentFactory(school=school, last_name="Otsitav", class_name="9.c")
    for q in ("Otsitav", "9.c", "2012"):  # a few digits are not an ID code
        assert admin_client_of_school.get(CHANGELIST, {"q": q}).status_code == 200
    response = admin_client_of_school.get(CHANGELIST, {"q": "otsitav"})
    assert [s.last_name for s in response.context["cl"].result_list] == ["Otsitav"]


def test_the_review_and_the_user_list_find_by_the_parents_code_too(
    admin_client_of_school, school, parent
):
    from datetime import date

    from koolivarav.applications.models import Application
    from koolivarav.schools.demo import make_id_code

    code = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)
    parent.id_code = make_id_code(birth=date(1983, 2, 3), female=False, serial=12)
    parent.save()
    application = Application.objects.create(
        school=school,
        parent_id_code=code,
        first_name="Mari",
        last_name="Maasikas",
        email="mari@example.ee",
        phone="+37255512345",
    )
    for model, row in (("applications_application", application), ("accounts_user", parent)):
        changelist = reverse(f"admin:{model}_changelist")
        page = admin_client_of_school.get(changelist).content.decode()
        assert 'name="id_code"' in page
        typed = code if model == "applications_application" else parent.id_code
        response = admin_client_of_school.post(
            reverse(f"admin:{model}_find_by_id_code"), {"id_code": typed}
        )
        assert response["Location"] == reverse(f"admin:{model}_change", args=[row.pk])
