"""Administrators' second factor (TOTP, django-otp): enrolled at the first admin login, asked
at every later one; without it no admin page, least of all an approval, opens."""

import re
import subprocess
import sys
import time

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from koolivarav.accounts.models import AuditEntry
from koolivarav.accounts.tests.factories import (
    PASSWORD,
    SchoolAdminFactory,
    log_in_as_administrator,
    totp_code,
)
from koolivarav.accounts.tests.test_views import app_code
from koolivarav.applications.models import Application
from koolivarav.applications.tests.test_admin import _apply
from koolivarav.tests.test_settings import MANAGE, _production_env

QUEUE = reverse("admin:applications_application_changelist")
LOGIN = reverse("admin:login")
VERIFY = reverse("admin:second_factor")
SETUP = reverse("admin:second_factor_setup")
RECOVERY_CODES = reverse("admin:second_factor_recovery_codes")


@pytest.fixture
def secretary(school):
    return SchoolAdminFactory(school=school, email="sekretar@jpk.example.ee")


@pytest.fixture
def client():
    return Client(HTTP_HOST="jpk.example.ee")


def _password_login(client, user, next_url=QUEUE):
    return client.post(
        f"{LOGIN}?next={next_url}",
        {"username": user.email, "password": PASSWORD, "next": next_url},
        follow=True,
    )


def _key_on(page: str) -> str:
    return re.search(r'<code class="second-factor-key">([A-Z2-7 ]+)</code>', page).group(1)


def test_the_first_admin_login_sets_up_the_app_and_then_opens_the_queue(client, secretary):
    response = _password_login(client, secretary)
    assert (
        response.redirect_chain[-1][0] == f"{SETUP}?next=%2Fadmin%2Fapplications%2Fapplication%2F"
    )
    page = response.content.decode()
    assert 'src="data:image/svg+xml' in page  # the QR code, inline (the CSP allows data:)
    key = _key_on(page)
    assert client.get(SETUP).content.decode().count(key) == 1  # reloading shows the same key

    response = client.post(response.redirect_chain[-1][0], {"code": app_code(key)})
    # First the recovery codes (test_recovery_codes.py), then on to where the login was going.
    assert response["Location"] == f"{RECOVERY_CODES}?next=%2Fadmin%2Fapplications%2Fapplication%2F"
    assert f'href="{QUEUE}"' in client.get(response["Location"]).content.decode()
    assert client.get(QUEUE).status_code == 200
    device = TOTPDevice.objects.get(user=secretary)
    assert device.confirmed
    assert AuditEntry.objects.filter(
        actor=secretary, action=AuditEntry.Action.SECOND_FACTOR_ENROLLED
    ).exists()


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("12345", "Kirjuta kuus numbrit"),
        ("abcdef", "Kirjuta kuus numbrit"),
        ("1234567", "Kirjuta kuus numbrit"),
        ("١٢٣٤٥٦", "Kirjuta kuus numbrit"),  # Arabic-Indic digits are digits, but not these
        ("", "See lahter on nõutav"),
        ("wrong", "Kirjuta kuus numbrit"),
    ],
)
def test_a_malformed_code_is_refused_next_to_the_field(client, secretary, typed, message):
    _password_login(client, secretary)
    response = client.post(SETUP, {"code": typed})
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert 'aria-describedby="id_code_error"' in page
    assert not TOTPDevice.objects.filter(user=secretary, confirmed=True).exists()


def test_a_wrong_code_does_not_confirm_the_app(client, secretary):
    response = _password_login(client, secretary)
    key = _key_on(response.content.decode())
    wrong = f"{(int(app_code(key)) + 1) % 1_000_000:06d}"
    response = client.post(SETUP, {"code": wrong})
    assert "See kood ei ole õige" in response.content.decode()
    assert client.get(QUEUE).status_code == 302


def test_a_later_login_asks_for_the_code(client, secretary):
    device = TOTPDevice.objects.create(user=secretary, name="telefon", confirmed=True)
    response = _password_login(client, secretary)
    assert response.redirect_chain[-1][0].startswith(VERIFY)
    assert client.get(QUEUE).status_code == 302

    response = client.post(VERIFY, {"code": totp_code(device), "next": QUEUE})
    assert response["Location"] == QUEUE
    assert client.get(QUEUE).status_code == 200


def test_a_code_works_only_once(secretary):
    device = TOTPDevice.objects.create(user=secretary, name="telefon", confirmed=True)
    code = totp_code(device)
    first, second = Client(HTTP_HOST="jpk.example.ee"), Client(HTTP_HOST="jpk.example.ee")
    for client in (first, second):
        _password_login(client, secretary)
    assert first.post(VERIFY, {"code": code})["Location"] == reverse("admin:index")
    response = second.post(VERIFY, {"code": code})
    assert response.status_code == 200
    assert second.get(QUEUE).status_code == 302


def test_wrong_codes_slow_down_guessing(client, secretary):
    device = TOTPDevice.objects.create(user=secretary, name="telefon", confirmed=True)
    with time_machine.travel(time.time(), tick=False) as traveller:
        _password_login(client, secretary)
        client.post(VERIFY, {"code": "000000"})
        client.post(VERIFY, {"code": "000001"})
        response = client.post(VERIFY, {"code": totp_code(device)})
        assert "Liiga palju valesid koode" in response.content.decode()
        assert client.get(QUEUE).status_code == 302
        traveller.shift(10)
        assert client.post(VERIFY, {"code": totp_code(device)}).status_code == 302
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_without_the_second_factor_nothing_can_be_approved(client, school, secretary):
    application = _apply(school)
    client.force_login(secretary)  # the password only
    approve = reverse("admin:applications_application_approve", args=[application.pk])
    response = client.post(approve)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    application.refresh_from_db()
    assert application.status == Application.Status.PENDING
    for url in (QUEUE, reverse("admin:index"), reverse("admin:accounts_user_changelist")):
        assert client.get(url).status_code == 302


def test_the_pages_of_the_second_factor_are_not_for_parents_or_strangers(school_client, parent):
    assert school_client.get(SETUP)["Location"].startswith(LOGIN)
    school_client.force_login(parent)
    assert school_client.get(VERIFY)["Location"].startswith(LOGIN)
    assert not TOTPDevice.objects.exists()


def test_the_next_address_never_leads_off_the_site(client, secretary):
    device = TOTPDevice.objects.create(user=secretary, name="telefon", confirmed=True)
    client.force_login(secretary)
    response = client.post(f"{VERIFY}?next=https://kuri.example.com/", {"code": totp_code(device)})
    assert response["Location"] == reverse("admin:index")


def test_a_lost_phone_is_reset_by_the_operator(school, secretary, operator):
    TOTPDevice.objects.create(user=secretary, name="telefon", confirmed=True)
    operator_client = log_in_as_administrator(Client(HTTP_HOST="jpk.example.ee"), operator)
    operator_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reset_second_factor", "_selected_action": [secretary.pk]},
    )
    assert not TOTPDevice.objects.filter(user=secretary).exists()
    assert AuditEntry.objects.filter(action=AuditEntry.Action.SECOND_FACTOR_RESET).count() == 1
    client = Client(HTTP_HOST="jpk.example.ee")
    assert _password_login(client, secretary).redirect_chain[-1][0].startswith(SETUP)


def test_a_verified_session_ends_when_the_app_is_reset(admin_client_of_school, school_admin):
    assert admin_client_of_school.get(QUEUE).status_code == 200
    TOTPDevice.objects.filter(user=school_admin).delete()
    assert admin_client_of_school.get(QUEUE).status_code == 302


def test_the_apps_secrets_are_not_in_the_admin(operator):
    client = log_in_as_administrator(Client(HTTP_HOST="jpk.example.ee"), operator)
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404


def test_the_second_factor_can_be_switched_off_for_a_demo(client, secretary, settings):
    settings.ADMIN_SECOND_FACTOR = False
    client.force_login(secretary)
    assert client.get(QUEUE).status_code == 200


def test_production_refuses_to_start_without_the_second_factor():
    result = subprocess.run(
        [sys.executable, str(MANAGE), "check"],
        env=_production_env(ADMIN_SECOND_FACTOR="false"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "ADMIN_SECOND_FACTOR" in result.stderr
