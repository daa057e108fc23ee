"""Issue 16 item 6: one school administrator cannot take over another.

The attack: change a fellow administrator's e-mail to one's own, send them new login details,
reset their second factor, log in as them. Every step is refused to a school administrator;
operators may do each of them, and every change of an e-mail, a role or a second factor is in
the audit trail with before and after, and the person is told (at the old address)."""

import re

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from koolivarav.accounts.models import AuditEntry, User
from koolivarav.accounts.tests.factories import (
    PASSWORD,
    SchoolAdminFactory,
    UserFactory,
    log_in_as_administrator,
)
from koolivarav.conftest import host_of
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.schools.tests.factories import StudentFactory

CHANGELIST = reverse("admin:accounts_user_changelist")
ATTACKER_ADDRESS = "kaaperdaja@kuri.example.com"


def change_url(user: User) -> str:
    return reverse("admin:accounts_user_change", args=[user.pk])


@pytest.fixture
def colleague(school) -> User:
    """A fellow administrator of the same school, with an authenticator app."""
    user = SchoolAdminFactory(
        school=school, email="direktor@jpk.example.ee", first_name="Dora", last_name="Direktor"
    )
    TOTPDevice.objects.create(user=user, name="telefon", confirmed=True)
    return user


@pytest.fixture
def operator_client(school, operator) -> Client:
    return log_in_as_administrator(Client(HTTP_HOST=host_of(school)), operator)


def in_english(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def form_data(user: User, *, operator: bool = False, **changes) -> dict:
    """What the change form posts for this person, with some fields changed."""
    data = {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone": user.phone,
        "address": user.address,
        "language": user.language,
        "children": [c.pk for c in user.children.all()],
        "is_active": "on" if user.is_active else "",
        "must_change_password": "on" if user.must_change_password else "",
    }
    if operator:
        data.update(role=user.role, school=user.school_id or "")
    if user.is_administrative:  # an administrator's page has their notices too
        data.update(application_notices=user.application_notices, digest_hour=user.digest_hour)
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def audit(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action))


# --- the attack, step by step, by a school administrator ------------------------------------


def test_an_administrator_cannot_change_a_fellow_administrators_email(
    admin_client_of_school, colleague
):
    page = admin_client_of_school.get(change_url(colleague)).content.decode()
    assert 'name="email"' not in page  # shown, not editable
    assert colleague.email in page
    response = admin_client_of_school.post(
        change_url(colleague), form_data(colleague, email=ATTACKER_ADDRESS)
    )
    assert response.status_code == 403
    colleague.refresh_from_db()
    assert colleague.email == "direktor@jpk.example.ee"


@pytest.mark.parametrize(
    "change",
    [
        {"first_name": "Kaaperdatud"},
        {"is_active": ""},
        {"must_change_password": "on"},
        {"language": "en"},
    ],
)
def test_nothing_of_a_fellow_administrators_account_can_be_changed(
    admin_client_of_school, colleague, change
):
    response = admin_client_of_school.post(change_url(colleague), form_data(colleague, **change))
    assert response.status_code == 403
    colleague.refresh_from_db()
    assert colleague.first_name == "Dora"
    assert colleague.is_active
    assert not colleague.must_change_password
    assert colleague.language == "et"


def test_an_administrator_cannot_delete_a_fellow_administrator(admin_client_of_school, colleague):
    delete_url = reverse("admin:accounts_user_delete", args=[colleague.pk])
    assert admin_client_of_school.post(delete_url, {"post": "yes"}).status_code == 403
    admin_client_of_school.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [colleague.pk], "post": "yes"},
    )
    assert User.objects.filter(pk=colleague.pk).exists()


def test_new_login_details_are_not_sent_to_a_fellow_administrator(
    admin_client_of_school, colleague, parent
):
    response = in_english(admin_client_of_school).post(
        CHANGELIST,
        {"action": "resend_login_details", "_selected_action": [colleague.pk, parent.pk]},
        follow=True,
    )
    colleague.refresh_from_db()
    assert colleague.check_password(PASSWORD)  # the old password still works
    assert not Email.objects.filter(to_address=colleague.email).exists()
    assert Email.objects.filter(to_address=parent.email, kind="accounts.login_details").exists()
    page = response.content.decode()
    assert "1 person was skipped" in page
    assert "only an operator" in page


def test_a_fellow_administrators_second_factor_is_not_reset(admin_client_of_school, colleague):
    response = in_english(admin_client_of_school).post(
        CHANGELIST,
        {"action": "reset_second_factor", "_selected_action": [colleague.pk]},
        follow=True,
    )
    assert TOTPDevice.objects.filter(user=colleague, confirmed=True).exists()
    assert not audit(AuditEntry.Action.SECOND_FACTOR_RESET)
    assert "1 person was skipped" in response.content.decode()


def test_the_whole_takeover_fails(admin_client_of_school, school, colleague):
    """The issue's chain, end to end: the attacker never gets a password for the colleague."""
    admin_client_of_school.post(change_url(colleague), form_data(colleague, email=ATTACKER_ADDRESS))
    for action in ("resend_login_details", "reset_second_factor"):
        admin_client_of_school.post(
            CHANGELIST, {"action": action, "_selected_action": [colleague.pk]}
        )
    deliver_due_emails()
    assert not [m for m in mail.outbox if ATTACKER_ADDRESS in m.to]
    attacker = Client(HTTP_HOST=host_of(school))
    attacker.post(reverse("admin:login"), {"username": ATTACKER_ADDRESS, "password": PASSWORD})
    assert "_auth_user_id" not in attacker.session
    assert TOTPDevice.objects.filter(user=colleague, confirmed=True).exists()


def test_an_administrator_cannot_attach_children_to_their_own_account(
    admin_client_of_school, school_admin, school
):
    child = StudentFactory(school=school)
    response = admin_client_of_school.post(
        change_url(school_admin), form_data(school_admin, children=[child.pk])
    )
    assert response.status_code == 302
    assert not school_admin.children.exists()


def test_the_services_refuse_a_fellow_administrator_too(school_admin, colleague):
    from django.core.exceptions import PermissionDenied

    from koolivarav.accounts.services import (
        change_email,
        resend_login_details,
        reset_second_factor,
    )

    with pytest.raises(PermissionDenied):
        change_email(user=colleague, new_email=ATTACKER_ADDRESS, actor=school_admin)
    with pytest.raises(PermissionDenied):
        resend_login_details(user=colleague, actor=school_admin)
    with pytest.raises(PermissionDenied):
        reset_second_factor(user=colleague, actor=school_admin)
    colleague.refresh_from_db()
    assert colleague.email == "direktor@jpk.example.ee"
    assert TOTPDevice.objects.filter(user=colleague).exists()


# --- operators may, and everything is recorded -----------------------------------------------


def test_an_operator_changes_an_administrators_email_recorded_and_the_old_address_told(
    operator_client, operator, colleague
):
    response = operator_client.post(
        change_url(colleague), form_data(colleague, operator=True, email="uus@jpk.example.ee")
    )
    assert response.status_code == 302
    colleague.refresh_from_db()
    assert colleague.email == "uus@jpk.example.ee"
    [entry] = audit(AuditEntry.Action.EMAIL_CHANGED)
    assert (entry.actor, entry.school, entry.before, entry.after) == (
        operator,
        colleague.school,
        "direktor@jpk.example.ee",
        "uus@jpk.example.ee",
    )
    told = Email.objects.get(kind="accounts.email_changed")
    assert told.to_address == "direktor@jpk.example.ee"


def test_an_operator_resets_an_administrators_second_factor_recorded_and_told(
    operator_client, operator, colleague
):
    operator_client.post(
        CHANGELIST, {"action": "reset_second_factor", "_selected_action": [colleague.pk]}
    )
    assert not TOTPDevice.objects.filter(user=colleague).exists()
    [entry] = audit(AuditEntry.Action.SECOND_FACTOR_RESET)
    assert entry.actor == operator
    assert (entry.before, entry.after) == ("1", "0")  # confirmed authenticator apps
    told = Email.objects.get(kind="accounts.second_factor_reset")
    assert told.to_address == colleague.email


def test_an_operator_sends_an_administrator_new_login_details(operator_client, colleague):
    operator_client.post(
        CHANGELIST, {"action": "resend_login_details", "_selected_action": [colleague.pk]}
    )
    assert Email.objects.filter(to_address=colleague.email, kind="accounts.login_details").exists()
    assert len(audit(AuditEntry.Action.RESENT)) == 1


def test_an_operator_changes_a_role_recorded_and_the_person_told(
    operator_client, operator, colleague
):
    operator_client.post(change_url(colleague), form_data(colleague, operator=True, role="parent"))
    colleague.refresh_from_db()
    assert colleague.role == User.Role.PARENT
    assert not colleague.is_staff
    [entry] = audit(AuditEntry.Action.ROLE_CHANGED)
    assert (entry.actor, entry.before, entry.after) == (operator, "school_admin", "parent")
    told = Email.objects.get(kind="accounts.role_changed")
    assert told.to_address == colleague.email


def test_an_operators_own_email_change_is_recorded_without_a_school(operator_client, operator):
    operator_client.post(
        change_url(operator), form_data(operator, operator=True, email="uus-operaator@example.ee")
    )
    [entry] = audit(AuditEntry.Action.EMAIL_CHANGED)
    assert entry.school is None
    assert entry.after == "uus-operaator@example.ee"


# --- what administrators still do: parents, and their own account ---------------------------


def test_a_parents_email_change_is_recorded_and_the_old_address_told(
    admin_client_of_school, school_admin, school
):
    parent = UserFactory(school=school, email="vana@example.ee", language="en")
    response = admin_client_of_school.post(
        change_url(parent), form_data(parent, email="uus@example.ee")
    )
    assert response.status_code == 302
    parent.refresh_from_db()
    assert parent.email == "uus@example.ee"
    [entry] = audit(AuditEntry.Action.EMAIL_CHANGED)
    assert (entry.actor, entry.before, entry.after) == (
        school_admin,
        "vana@example.ee",
        "uus@example.ee",
    )
    deliver_due_emails()
    [message] = mail.outbox
    assert message.to == ["vana@example.ee"]
    body = message.body
    assert school.name in body
    assert "e-mail address" in body  # in the parent's language
    assert school_admin.last_name not in body  # the school, not the person, changed it
    assert "uus@example.ee" not in body
    # Saving again without a change of address records and sends nothing more.
    admin_client_of_school.post(change_url(parent), form_data(parent, phone="5551234"))
    assert len(audit(AuditEntry.Action.EMAIL_CHANGED)) == 1
    assert Email.objects.count() == 1


def test_an_administrators_own_email_change_is_recorded_and_the_old_address_told(
    admin_client_of_school, school_admin
):
    old = school_admin.email
    response = admin_client_of_school.post(
        change_url(school_admin), form_data(school_admin, email="minu-uus@jpk.example.ee")
    )
    assert response.status_code == 302
    school_admin.refresh_from_db()
    assert school_admin.email == "minu-uus@jpk.example.ee"
    [entry] = audit(AuditEntry.Action.EMAIL_CHANGED)
    assert (entry.before, entry.after) == (old, "minu-uus@jpk.example.ee")
    assert Email.objects.get(kind="accounts.email_changed").to_address == old


def test_the_notice_says_when_and_whom_to_ask(school, school_admin, parent):
    from koolivarav.accounts.services import change_email

    parent.language = "en"
    parent.save()
    change_email(user=parent, new_email="uus@example.ee", actor=school_admin)
    deliver_due_emails()
    body = mail.outbox[0].body
    assert re.search(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", body)
    assert "contact the school" in body


@pytest.mark.parametrize(
    "address", ["=?utf-8?q?a=0D=0ABcc=3A_x=40y=2Eexample?=@example.ee", "mari@straße.ee"]
)
def test_an_address_the_mailer_cannot_send_to_is_refused_in_the_form(
    admin_client_of_school, parent, address
):
    old = parent.email
    response = admin_client_of_school.post(change_url(parent), form_data(parent, email=address))
    assert response.status_code == 200
    assert response.context["adminform"].form.has_error("email", "undeliverable")
    parent.refresh_from_db()
    assert parent.email == old
    assert not AuditEntry.objects.exists()


def test_an_address_another_account_of_the_school_has_is_refused_in_the_form(
    admin_client_of_school, school, parent
):
    UserFactory(school=school, email="teine@example.ee")
    old = parent.email
    response = admin_client_of_school.post(
        change_url(parent), form_data(parent, email="TEINE@example.ee")
    )
    assert response.status_code == 200  # was a 500 (IntegrityError)
    assert response.context["adminform"].form.has_error("email", "email_taken")
    parent.refresh_from_db()
    assert parent.email == old
    assert not AuditEntry.objects.exists()
