import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from koolivarav.accounts.tests.factories import UserFactory


def _request(school):
    request = RequestFactory().post("/")
    request.school = school
    return request


@pytest.mark.parametrize(
    "username",
    [
        "mari.maasikas@example.ee",
        "MARI.MAASIKAS@EXAMPLE.EE",
        "Mari Maasikas",
        "marimaasikas",
        " MariMaasikas ",
    ],
)
def test_a_parent_logs_in_by_email_or_name(school, password, username):
    user = UserFactory(school=school, email="mari.maasikas@example.ee")
    assert authenticate(_request(school), username=username, password=password) == user


def test_another_schools_user_is_not_a_candidate(school, other_school, password):
    UserFactory(school=other_school, email="mari@example.ee")
    assert authenticate(_request(school), username="mari@example.ee", password=password) is None


def test_a_wrong_password_logs_nobody_in(school):
    UserFactory(school=school)
    assert authenticate(_request(school), username="Mari Maasikas", password="vale-parool") is None


def test_a_name_that_fits_two_accounts_with_one_password_logs_nobody_in(school, password):
    UserFactory(school=school)
    UserFactory(school=school)
    assert authenticate(_request(school), username="Mari Maasikas", password=password) is None


def test_the_name_key_follows_a_name_change(parent):
    parent.first_name = "Mari-Liis"
    parent.save(update_fields=["first_name"])
    parent.refresh_from_db()
    assert parent.name_key == "mari-liismaasikas"
