import pytest
from django.test import Client

from koolivarav.schools.selectors import school_for_host
from koolivarav.schools.tests.factories import SchoolHostFactory


def test_a_school_is_found_by_its_host_name_in_any_case(school, other_school):
    SchoolHostFactory(school=other_school, hostname="tamme.ope.ee")
    assert school_for_host(host="TAMME.ope.ee") == other_school
    assert school_for_host(host="jpk.example.ee") == school


def test_with_one_school_every_host_finds_it(school):
    assert school_for_host(host="anything.example.org") == school


def test_with_several_schools_an_unknown_host_finds_none(school, other_school):
    assert school_for_host(host="unknown.example.org") is None


@pytest.mark.parametrize(
    ("language", "text"),
    [("et", "Sellel aadressil kooli ei ole"), ("en", "There is no school at this address")],
)
def test_an_unknown_host_gets_the_404_page_in_the_visitors_language(
    school, other_school, language, text
):
    response = Client(HTTP_HOST="unknown.example.org", HTTP_ACCEPT_LANGUAGE=language).get("/")
    assert response.status_code == 404
    assert text in response.content.decode()


def test_each_school_host_serves_its_own_home_page(school, other_school):
    response = Client(HTTP_HOST="tamme.example.ee").get("/")
    assert response.status_code == 200
    assert "Tartu Tamme Gümnaasium" in response.content.decode()


def test_a_host_with_a_port_finds_the_school(school, other_school):
    response = Client(HTTP_HOST="jpk.example.ee:8443").get("/")
    assert "Jõgeva Põhikool" in response.content.decode()
