"""The school's contact where parents look for it: the footer, the 404 and 429 pages, the
parent's home and the rejection e-mail."""

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation

from koolivarav.accounts.tests.factories import UserFactory
from koolivarav.conftest import host_of
from koolivarav.notifications.services import deliver_due_emails, queue_email
from koolivarav.schools.models import School
from koolivarav.schools.tests.factories import SchoolFactory, StudentFactory
from koolivarav.tests.test_emails import _parts, _words_of_html, _words_of_text

CONTACT = {
    "office_email": "kantselei@jpk.example.ee",
    "phone": "+3727761234",
    "postal_address": "Tähe 3, 48105 Jõgeva",
    "office_hours": "E-R 8.00-16.00",
}


@pytest.fixture
def school(db) -> School:
    return SchoolFactory(**CONTACT)


def _shows_contact(html: str) -> bool:
    return (
        'href="mailto:kantselei@jpk.example.ee"' in html
        and 'href="tel:+3727761234"' in html
        and "776 1234" in html
        and "Tähe 3, 48105 Jõgeva" in html
        and "E-R 8.00-16.00" in html
    )


# --- the partial ------------------------------------------------------------------------------


def test_the_partial_shows_each_detail_with_links(school):
    # English: the new texts' Estonian and Russian are merged into the catalogues later.
    with translation.override("en"):
        html = render_to_string("schools/_contact.html", {"school": school})
    assert _shows_contact(html)
    assert "<h2>The school's contact details</h2>" in html
    assert "<dt>Office hours</dt>" in html


def test_the_partial_renders_nothing_without_a_contact(db):
    bare = SchoolFactory()
    assert render_to_string("schools/_contact.html", {"school": bare}).strip() == ""
    assert render_to_string("schools/_contact.txt", {"school": bare}).strip() == ""


def test_the_partial_renders_nothing_without_a_school():
    assert render_to_string("schools/_contact.html", {"school": None}).strip() == ""
    assert render_to_string("schools/_contact.html", {}).strip() == ""


def test_the_partial_shows_only_what_is_set(db):
    only_phone = SchoolFactory(phone="+37255512345")
    html = render_to_string("schools/_contact.html", {"school": only_phone})
    assert ">5551 2345</a>" in html  # the national format
    assert "mailto:" not in html
    assert "Tähe" not in html


def test_the_mail_link_cannot_gain_headers(db):
    # "?" is allowed in an address's local part; in a mailto: link it would start headers
    # (cc, body) that the school never wrote.
    odd = SchoolFactory(office_email="kantselei?cc=x@jpk.example.ee")
    html = render_to_string("schools/_contact.html", {"school": odd})
    assert 'href="mailto:kantselei%3Fcc%3Dx@jpk.example.ee"' in html


def test_the_partial_can_leave_out_its_heading(school):
    html = render_to_string("schools/_contact.html", {"school": school, "without_heading": True})
    assert _shows_contact(html)
    assert "<h2" not in html


# --- pages ------------------------------------------------------------------------------------


def test_every_page_has_the_contact_in_its_footer(school_client):
    page = school_client.get("/").content.decode()
    footer = page.split('<footer class="site-footer">')[1]
    assert _shows_contact(footer)


def test_a_school_without_a_contact_has_no_footer(db):
    bare = SchoolFactory()
    page = Client(HTTP_HOST=host_of(bare)).get("/").content.decode()
    assert "<footer" not in page


def test_the_404_page_shows_the_contact_once(school_client):
    response = school_client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert _shows_contact(page)
    assert page.count("mailto:") == 1
    assert "<footer" not in page


def test_the_404_page_of_a_host_no_school_answers_on_shows_no_contact(school, other_school):
    response = Client(HTTP_HOST="nobody.example.ee").get("/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "mailto:" not in page
    assert "<footer" not in page


def test_the_too_many_attempts_page_shows_the_contact(school_client, settings):
    limits = {**settings.KOOLIVARAV["RATE_LIMITS"], "application_form_per_address": (1, 3600)}
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "RATE_LIMITS": limits}
    school_client.post("/apply/", {})
    response = school_client.post("/apply/", {})
    assert response.status_code == 429
    page = response.content.decode()
    assert _shows_contact(page)
    assert page.count("mailto:") == 1


def test_the_locked_out_page_shows_the_contact(school_client, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        response = school_client.post("/", {"username": "Keegi Tundmatu", "password": "vale"})
    assert response.status_code == 429
    page = response.content.decode()
    assert _shows_contact(page)
    assert page.count("mailto:") == 1


def test_the_parents_home_shows_the_childrens_school_contact_once(school, school_client):
    parent = UserFactory(school=school)
    for first_name in ("Kärt", "Jüri"):
        parent.children.add(StudentFactory(school=school, first_name=first_name))
    school_client.force_login(parent)
    page = school_client.get("/").content.decode()
    assert _shows_contact(page.split('id="children-heading"')[1])
    assert page.count("mailto:") == 1  # under the children, not again in the footer


def test_a_parent_without_children_has_the_contact_in_the_footer(school, school_client):
    school_client.force_login(UserFactory(school=school))
    page = school_client.get("/").content.decode()
    assert _shows_contact(page.split('<footer class="site-footer">')[1])


# --- the rejection e-mail ---------------------------------------------------------------------


def _rejection(school, smtp_server, language="et"):
    queue_email(
        school=school,
        to="mari.maasikas@example.ee",
        kind="applications.rejected",
        template="applications/email/rejected",
        context={"first_name": "Mari", "reason": "Laps ei õpi meie koolis."},
        language=language,
    )
    deliver_due_emails()
    plain, html = _parts(smtp_server.messages[-1])
    return plain.replace("\r\n", "\n"), html


def test_the_rejection_says_how_to_reach_the_school(school, smtp_server):
    plain, html = _rejection(school, smtp_server, language="en")
    assert plain.rstrip().endswith(
        "If you have questions, please contact the school.\n"
        "\n"
        "The school's contact details\n"
        "E-mail: kantselei@jpk.example.ee\n"
        "Phone: 776 1234\n"
        "Address: Tähe 3, 48105 Jõgeva\n"
        "Office hours: E-R 8.00-16.00"
    )
    assert 'href="mailto:kantselei@jpk.example.ee"' in html
    assert _words_of_html(html) == _words_of_text(plain)


def test_the_rejection_of_a_school_without_a_contact_is_as_before(db, smtp_server):
    plain, html = _rejection(SchoolFactory(), smtp_server)
    assert plain.rstrip().endswith("Küsimuste korral võta palun ühendust kooliga.")
    assert "kontaktandmed" not in html
    assert _words_of_html(html) == _words_of_text(plain)


def test_the_demo_school_has_a_contact_the_admin_would_accept(db, tmp_path):
    from django.core.management import call_command

    from koolivarav.schools.demo import DEMO_SCHOOL
    from koolivarav.schools.forms import SchoolAdminForm

    call_command("load_demo", password_file=tmp_path / "password.txt", stdout=None)
    demo = School.objects.get(short_name=DEMO_SCHOOL["short_name"])
    assert demo.has_contact
    form = SchoolAdminForm(
        instance=demo,
        data={
            field: getattr(demo, field)
            for field in (
                "office_email",
                "phone",
                "postal_address",
                "office_hours",
                "tara_login",
                "tara_methods",
                "tara_level",
                "known_guardians",
            )
        },
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["phone"] == demo.phone
