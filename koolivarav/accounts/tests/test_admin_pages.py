"""The admin's own pages before and around the decisions (issue 14 item 6): the second factor's
pages offer no way into the admin before the code is given."""

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from koolivarav.conftest import host_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def password_only(school, school_admin) -> Client:
    """An administrator past the password, not yet past the second factor."""
    client = Client(HTTP_HOST=host_of(school))
    client.force_login(school_admin)
    return client


def _no_navigation(page: str) -> None:
    assert 'id="nav-sidebar"' not in page
    assert 'class="breadcrumbs"' not in page
    assert f'href="{reverse("admin:index")}"' not in page
    assert reverse("admin:applications_application_changelist") not in page
    assert 'id="user-tools"' not in page


def test_setting_up_the_second_factor_shows_no_way_into_the_admin(password_only):
    response = password_only.get(reverse("admin:second_factor_setup"))
    assert response.status_code == 200
    _no_navigation(response.content.decode())


def test_the_code_page_shows_no_way_into_the_admin(password_only, school_admin):
    TOTPDevice.objects.create(user=school_admin, name="telefon", confirmed=True)
    response = password_only.get(reverse("admin:second_factor"))
    assert response.status_code == 200
    page = response.content.decode()
    _no_navigation(page)
    assert reverse("accounts:logout") in page  # the one way out


def test_after_the_code_the_admin_has_its_navigation(admin_client_of_school):
    page = admin_client_of_school.get(reverse("admin:index")).content.decode()
    assert 'id="user-tools"' in page


def test_the_lists_reject_form_looks_like_the_admin_and_has_a_cancel(
    admin_client_of_school, school
):
    from koolivarav.applications.services import ApplicantData, submit_application
    from koolivarav.schools.tests.factories import StudentFactory

    data = ApplicantData(
        parent_id_code="48405172715",
        first_name="Mari",
        last_name="Maasikas",
        email="mari@example.ee",
        phone="+37255512345",
        child_id_codes=(StudentFactory(school=school).id_code,),
    )
    application = submit_application(school=school, data=data, language="et")
    queue = reverse("admin:applications_application_changelist")
    response = admin_client_of_school.post(
        queue, {"action": "reject_selected", "_selected_action": [application.pk]}
    )
    page = response.content.decode()
    assert 'class="module aligned"' in page
    assert 'class="submit-row"' in page
    assert f'class="button cancel-link" href="{queue}"' in page
    assert 'class="breadcrumbs"' in page
