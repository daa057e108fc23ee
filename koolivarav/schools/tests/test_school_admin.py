"""The school's page in the admin: operators change everything, a school's administrator only
their own school's contact and whether unconfirmed applications wait — over HTTP."""

import pytest
from django.test import Client
from django.urls import reverse

from koolivarav.accounts.tests.factories import log_in_as_administrator
from koolivarav.conftest import host_of
from koolivarav.schools.models import School, SchoolHost

CHANGELIST = reverse("admin:schools_school_changelist")
ADD = reverse("admin:schools_school_add")

CONTACT = {
    "office_email": "kantselei@jpk.example.ee",
    "phone": "776 1234",
    "postal_address": "Tähe 3, 48105 Jõgeva",
    "office_hours": "E-R 8.00-16.00",
}


def change_url(school: School) -> str:
    return reverse("admin:schools_school_change", args=[school.pk])


# How parents prove their identity (an unchecked box is not sent: HarID stays off).
IDENTITY = {
    "tara_login": "on",
    "tara_methods": ["idcard", "mID", "smartid"],
    "tara_level": "substantial",
    "known_guardians": "queue",
}


def _own_school_post(**overrides: str) -> dict[str, str]:
    # An unchecked checkbox is simply not sent: hold_unconfirmed_applications becomes False.
    return {**CONTACT, **IDENTITY, **overrides}


@pytest.fixture
def operator_client(operator, school) -> Client:
    client = Client(HTTP_HOST=host_of(school))
    log_in_as_administrator(client, operator)
    return client


def test_a_school_admin_opens_their_schools_page_from_the_list(admin_client_of_school, school):
    response = admin_client_of_school.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"] == change_url(school)


def test_a_school_admin_sees_only_the_contact_and_the_hold(admin_client_of_school, school):
    page = admin_client_of_school.get(change_url(school)).content.decode()
    for field in ("office_email", "phone", "postal_address", "office_hours"):
        assert f'name="{field}"' in page
    assert 'name="hold_unconfirmed_applications"' in page
    for field in ("name", "short_name", "portal_url", "sender_email"):
        assert f'name="{field}"' not in page
    assert 'name="notify_admins_of_new_applications"' not in page
    assert "hosts-TOTAL_FORMS" not in page


def test_a_school_admin_changes_the_contact_and_the_hold(admin_client_of_school, school):
    response = admin_client_of_school.post(change_url(school), _own_school_post())
    assert response.status_code == 302
    school.refresh_from_db()
    assert school.office_email == "kantselei@jpk.example.ee"
    assert school.phone == "+3727761234"  # stored in E.164, shown as typed
    assert school.phone_as_written == "776 1234"
    assert school.postal_address == "Tähe 3, 48105 Jõgeva"
    assert school.office_hours == "E-R 8.00-16.00"
    assert school.hold_unconfirmed_applications is False


def test_a_school_admin_cannot_change_the_name_hosts_or_sender(admin_client_of_school, school):
    before = School.objects.values().get(pk=school.pk)
    response = admin_client_of_school.post(
        change_url(school),
        _own_school_post(
            name="Võõras Kool",
            short_name="vooras",
            portal_url="https://evil.example/",
            sender_email="robot@evil.example",
            notify_admins_of_new_applications="",
            id="999",
            **{
                "hosts-TOTAL_FORMS": "1",
                "hosts-INITIAL_FORMS": "0",
                "hosts-0-hostname": "evil.example",
                "hosts-0-school": str(school.pk),
            },
        ),
    )
    assert response.status_code == 302
    after = School.objects.values().get(pk=school.pk)
    for field in ("id", "name", "short_name", "portal_url", "sender_email"):
        assert after[field] == before[field]
    assert after["notify_admins_of_new_applications"] == before["notify_admins_of_new_applications"]
    assert after["office_email"] == CONTACT["office_email"]  # the allowed part did change
    assert not SchoolHost.objects.filter(hostname="evil.example").exists()


def test_a_school_admin_cannot_open_or_change_another_school(
    admin_client_of_school, school, other_school
):
    theirs = change_url(other_school)
    assert admin_client_of_school.get(theirs).status_code == 302  # "does not exist" → index
    response = admin_client_of_school.post(theirs, _own_school_post(name="Ülevõetud"))
    assert response.status_code == 302
    other_school.refresh_from_db()
    assert other_school.name == "Tartu Tamme Gümnaasium"
    assert other_school.office_email == ""
    assert other_school.hold_unconfirmed_applications is True
    # Nor does their own school's page change when another school's id is posted.
    school.refresh_from_db()
    assert school.office_email == ""


def test_a_school_admin_cannot_see_another_school_in_the_list_or_history(
    admin_client_of_school, other_school
):
    history = reverse("admin:schools_school_history", args=[other_school.pk])
    assert admin_client_of_school.get(history).status_code == 302
    index = admin_client_of_school.get(reverse("admin:index")).content.decode()
    assert other_school.name not in index


def test_a_school_admin_cannot_add_or_delete_schools(admin_client_of_school, school):
    assert admin_client_of_school.get(ADD).status_code == 403
    assert admin_client_of_school.post(ADD, {"name": "Uus", "short_name": "uus"}).status_code == 403
    delete = reverse("admin:schools_school_delete", args=[school.pk])
    assert admin_client_of_school.post(delete, {"post": "yes"}).status_code == 403
    assert School.objects.filter(pk=school.pk).exists()
    assert not School.objects.filter(short_name="uus").exists()


def test_an_administrator_of_another_school_gets_no_page_here(school, other_school):
    from koolivarav.accounts.tests.factories import SchoolAdminFactory

    stranger = SchoolAdminFactory(school=other_school)
    client = Client(HTTP_HOST=host_of(school))
    log_in_as_administrator(client, stranger)
    response = client.post(change_url(school), _own_school_post())
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    school.refresh_from_db()
    assert school.office_email == ""


def test_a_parent_cannot_open_the_schools_page(school_client, school, parent):
    school_client.force_login(parent)
    assert school_client.post(change_url(school), _own_school_post()).status_code == 302
    school.refresh_from_db()
    assert school.office_email == ""


@pytest.mark.parametrize("phone", ["12", "abc", "+1 555", "5" * 30])
def test_a_wrong_phone_is_refused_next_to_the_field(admin_client_of_school, school, phone):
    response = admin_client_of_school.post(change_url(school), _own_school_post(phone=phone))
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    school.refresh_from_db()
    assert school.phone == ""


@pytest.mark.parametrize("address", ["kantselei", "a@b@c.ee", "kantselei@jpk ee"])
def test_a_wrong_office_email_is_refused(admin_client_of_school, school, address):
    response = admin_client_of_school.post(
        change_url(school), _own_school_post(office_email=address)
    )
    assert response.status_code == 200
    assert "office_email" in response.context["adminform"].form.errors


def test_every_contact_field_may_stay_empty(admin_client_of_school, school):
    response = admin_client_of_school.post(
        change_url(school),
        {"office_email": "", "phone": "", "postal_address": "", "office_hours": "", **IDENTITY},
    )
    assert response.status_code == 302
    school.refresh_from_db()
    assert not school.has_contact


def test_a_foreign_phone_is_kept_in_its_international_form(admin_client_of_school, school):
    admin_client_of_school.post(change_url(school), _own_school_post(phone="+358 40 1234567"))
    school.refresh_from_db()
    assert school.phone == "+358401234567"
    assert school.phone_as_written == "+358 40 1234567"


def test_an_operator_changes_every_field_and_the_hosts(operator_client, school):
    page = operator_client.get(change_url(school)).content.decode()
    assert 'name="name"' in page
    assert "hosts-TOTAL_FORMS" in page
    host = school.hosts.get()
    response = operator_client.post(
        change_url(school),
        {
            "name": "Jõgeva Põhikool",
            "short_name": school.short_name,
            "portal_url": school.portal_url,
            "sender_email": "kool@jpk.example.ee",
            "notify_admins_of_new_applications": "on",
            "hold_unconfirmed_applications": "on",
            **CONTACT,
            **IDENTITY,
            "admins_require_tara": "on",
            "hosts-TOTAL_FORMS": "1",
            "hosts-INITIAL_FORMS": "1",
            "hosts-MIN_NUM_FORMS": "0",
            "hosts-MAX_NUM_FORMS": "1000",
            "hosts-0-id": str(host.pk),
            "hosts-0-school": str(school.pk),
            "hosts-0-hostname": host.hostname,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    school.refresh_from_db()
    assert school.sender_email == "kool@jpk.example.ee"
    assert school.phone == "+3727761234"
    assert school.admins_require_tara


def test_a_school_admin_chooses_how_parents_prove_their_identity(admin_client_of_school, school):
    response = admin_client_of_school.post(
        change_url(school),
        _own_school_post(
            tara_methods=["smartid", "eIDAS"],
            tara_level="high",
            harid_login="on",
            known_guardians="approve",
            admins_require_tara="on",  # the operator's: ignored
        ),
    )
    assert response.status_code == 302
    school.refresh_from_db()
    assert school.tara_methods == ["smartid", "eIDAS"]
    assert school.tara_level == "high"
    assert school.harid_login
    assert school.known_guardians == "approve"
    assert not school.admins_require_tara


def test_tara_needs_at_least_one_method(admin_client_of_school, school):
    response = admin_client_of_school.post(change_url(school), _own_school_post(tara_methods=[]))
    assert response.status_code == 200
    assert "Choose at least one method" in str(response.context["adminform"].form.errors) or (
        "Vali vähemalt üks" in str(response.context["adminform"].form.errors)
    )
    school.refresh_from_db()
    assert school.tara_methods == ["idcard", "mID", "smartid"]


def test_an_operator_sees_every_school_in_the_list(operator_client, school, other_school):
    page = operator_client.get(CHANGELIST).content.decode()
    assert school.name in page
    assert other_school.name in page
