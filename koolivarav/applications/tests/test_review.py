"""Review and approval: from the application to the e-mail and the first login."""

import re
import threading
from datetime import date, timedelta

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.db import connection, connections
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from koolivarav.accounts.models import AuditEntry, User
from koolivarav.accounts.services import make_temporary_password, resend_login_details
from koolivarav.accounts.tests.factories import (
    SchoolAdminFactory,
    UserFactory,
    log_in_as_administrator,
)
from koolivarav.applications.models import Application
from koolivarav.applications.services import (
    AlreadyDecided,
    ApplicantData,
    EmailBelongsToAnotherAccount,
    approve_application,
    reject_application,
    submit_application,
)
from koolivarav.applications.tests.receipts import confirm_address_of
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory

PARENT = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)
CHANGELIST = reverse("admin:applications_application_changelist")


def _application(school, *children, email="mari.maasikas@example.ee", language="et", parent=PARENT):
    children = children or (StudentFactory(school=school),)
    data = ApplicantData(
        parent_id_code=parent,
        first_name="Mari",
        last_name="Maasikas",
        email=email,
        phone="+37255512345",
        child_id_codes=tuple(c.id_code for c in children),
    )
    return submit_application(school=school, data=data, language=language)


def _password(message) -> str:
    return re.search(
        r"Ajutine salasõna on: ([0-9a-f]{8})\r?$", message.get_body(("plain",)).get_content(), re.M
    ).group(1)


def _parent_mail(smtp_server, to="mari.maasikas@example.ee"):
    return [m for m in smtp_server.messages if m["To"] == to]


def _decisions():
    """E-mails about decisions (not the administrators' new-application notices)."""
    return Email.objects.exclude(kind="applications.new_application")


def _login(school, username, password):
    request = RequestFactory().post("/")
    request.school = school
    return authenticate(request, username=username, password=password)


# --- the acceptance path, all through HTTP and a real SMTP server ------------------------------


def test_apply_approve_deliver_and_log_in(school, school_admin, smtp_server):
    children = [StudentFactory(school=school), StudentFactory(school=school)]
    parent_client = Client(HTTP_HOST="jpk.example.ee")
    parent_client.post(
        reverse("applications:start"),
        {
            "child_id_codes": " ".join(c.id_code for c in children),
            "parent_id_code": PARENT,
            "first_name": "Mari",
            "last_name": "Maasikas",
            "email": "mari.maasikas@example.ee",
            "phone": "5551 2345",
        },
    )
    parent_client.post(reverse("applications:confirm"), {"email_again": "mari.maasikas@example.ee"})
    application = Application.objects.get()
    confirm_address_of(application, parent_client)

    admin = Client(HTTP_HOST="jpk.example.ee")
    log_in_as_administrator(admin, school_admin)
    page = admin.get(reverse("admin:applications_application_change", args=[application.pk]))
    for child in children:
        assert child.first_name in page.content.decode()
    response = admin.post(reverse("admin:applications_application_approve", args=[application.pk]))
    assert response.status_code == 302

    deliver_due_emails()
    to_parent = [m for m in smtp_server.messages if m["To"] == "mari.maasikas@example.ee"]
    _receipt, message = to_parent  # the receipt, then the login details
    assert message["From"] == "Jõgeva Põhikool <robot@ope.ee>"
    assert message["Subject"].strip() == "[Jõgeva Põhikool] Hindamissüsteemi konto / New account"
    body = message.get_body(("plain",)).get_content()
    lines = [line for line in body.splitlines() if line.strip()]
    password = _password(message)
    assert lines[:6] == [
        "Tere,",
        "sulle on loodud uus konto kooli hindamissüsteemi kasutamiseks.",
        "Sisse saad logida aadressil https://jpk.example.ee/",
        f"Ajutine salasõna on: {password}",
        "(Seda saad muuta pärast sisse logimist oma profiilist.)",
        "Sisselogimisel on kasutajanimeks meiliaadress või ees- ja perekonnanimi (võib kirjutada "
        "kokku või lahku, suure või väikese algustähega).",
    ]
    assert f"The temporary password is: {password}" in body

    login = parent_client.post("/", {"username": "mari maasikas", "password": password})
    assert login.status_code == 302
    user = User.objects.get(email="mari.maasikas@example.ee")
    assert set(user.children.all()) == set(children)
    assert user.must_change_password


def test_the_new_account_email_has_utf8_headers(school, school_admin, smtp_server):
    approve_application(application_id=_application(school).pk, decided_by=school_admin)
    deliver_due_emails()
    raw = _parent_mail(smtp_server)[0].as_string()
    assert "=?utf-8?" in raw.lower()  # the school name is encoded, not sent as raw 8-bit text


# --- the approval service -----------------------------------------------------------------------


def test_approval_creates_the_account_and_records_who_and_when(school, school_admin):
    application = approve_application(
        application_id=_application(school).pk, decided_by=school_admin
    )
    assert application.status == Application.Status.APPROVED
    assert application.decided_by == school_admin
    assert application.decided_at is not None
    user = User.objects.get(id_code=PARENT)
    assert (user.school, user.role, user.phone) == (school, User.Role.PARENT, "+37255512345")
    assert not user.has_usable_password()  # until the e-mail is sent
    assert AuditEntry.objects.get().action == AuditEntry.Action.APPROVED
    assert _decisions().get().kind == "accounts.login_details"


def test_approving_twice_creates_one_account_and_one_email(school, school_admin):
    application = _application(school)
    approve_application(application_id=application.pk, decided_by=school_admin)
    with pytest.raises(AlreadyDecided):
        approve_application(application_id=application.pk, decided_by=school_admin)
    assert User.objects.filter(role=User.Role.PARENT).count() == 1
    assert _decisions().count() == 1


def test_a_failing_approval_leaves_nothing_and_sends_nothing(school, school_admin, monkeypatch):
    application = _application(school)

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("koolivarav.applications.services.send_login_details", broken)
    with pytest.raises(RuntimeError):
        approve_application(application_id=application.pk, decided_by=school_admin)
    application.refresh_from_db()
    assert application.status == Application.Status.PENDING
    assert not User.objects.filter(role=User.Role.PARENT).exists()
    assert not _decisions().exists()
    assert not AuditEntry.objects.exists()


def test_an_existing_parent_gets_the_child_linked_and_no_password(
    school, school_admin, smtp_server, password
):
    first, second = StudentFactory(school=school), StudentFactory(school=school)
    parent = UserFactory(school=school, id_code=PARENT, email="mari@example.ee")
    parent.children.add(first)
    approve_application(
        application_id=_application(school, second, email="mari@example.ee").pk,
        decided_by=school_admin,
    )
    deliver_due_emails()
    parent.refresh_from_db()
    assert set(parent.children.all()) == {first, second}
    assert parent.check_password(password)
    (message,) = _parent_mail(smtp_server, "mari@example.ee")
    body = message.get_body(("plain",)).get_content()
    assert second.first_name in body
    assert "salasõna on" not in body
    assert User.objects.filter(role=User.Role.PARENT).count() == 1


def test_an_email_that_belongs_to_another_account_stops_the_approval(school, school_admin):
    UserFactory(school=school, id_code="", email="mari@example.ee")
    application = _application(school, email="MARI@example.ee")
    with pytest.raises(EmailBelongsToAnotherAccount):
        approve_application(application_id=application.pk, decided_by=school_admin)
    application.refresh_from_db()
    assert application.status == Application.Status.PENDING


@pytest.mark.parametrize(("language", "text"), [("et", "Põhjus:"), ("en", "Reason:")])
def test_rejection_tells_the_parent_in_their_language(
    school, school_admin, smtp_server, language, text
):
    application = _application(school, language=language)
    reject_application(
        application_id=application.pk, decided_by=school_admin, reason="Andmed ei klapi."
    )
    deliver_due_emails()
    (message,) = _parent_mail(smtp_server)
    assert f"{text} Andmed ei klapi." in message.get_body(("plain",)).get_content()
    assert not User.objects.filter(role=User.Role.PARENT).exists()
    assert AuditEntry.objects.get().details == "Andmed ei klapi."


def test_resending_makes_the_old_password_stop_working(school, school_admin, smtp_server):
    approve_application(application_id=_application(school).pk, decided_by=school_admin)
    deliver_due_emails()
    old = _password(_parent_mail(smtp_server)[0])
    user = User.objects.get(id_code=PARENT)
    resend_login_details(user=user, actor=school_admin)
    assert _login(school, "mari.maasikas@example.ee", old) is None
    deliver_due_emails()
    new = _password(_parent_mail(smtp_server)[1])
    assert new != old
    assert _login(school, "mari.maasikas@example.ee", new) == user
    assert _login(school, "mari.maasikas@example.ee", old) is None
    assert AuditEntry.objects.filter(action=AuditEntry.Action.RESENT).count() == 1


def test_no_table_holds_the_plaintext_password_after_sending(school, school_admin, smtp_server):
    approve_application(application_id=_application(school).pk, decided_by=school_admin)
    deliver_due_emails()
    password = _password(_parent_mail(smtp_server)[0])
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")  # noqa: S608 - table names from the schema
            for row in cursor.fetchall():
                assert password not in repr(row), table


def test_a_temporary_password_expires(school, school_admin, smtp_server, settings):
    approve_application(application_id=_application(school).pk, decided_by=school_admin)
    deliver_due_emails()
    password = _password(_parent_mail(smtp_server)[0])
    days = settings.KOOLIVARAV["TEMPORARY_PASSWORD_DAYS"]
    with time_machine.travel(timezone.now() + timedelta(days=days, minutes=-1)):
        assert _login(school, "Mari Maasikas", password) is not None
    with time_machine.travel(timezone.now() + timedelta(days=days, minutes=1)):
        assert _login(school, "Mari Maasikas", password) is None


def test_temporary_passwords_are_eight_hex_characters_that_pass_the_validators(parent):
    from django.contrib.auth.password_validation import validate_password

    for _ in range(2000):
        password = make_temporary_password(parent)
        assert re.fullmatch(r"[0-9a-f]{8}", password)
        validate_password(password, parent)


def test_temporary_passwords_come_from_secrets(parent, monkeypatch):
    monkeypatch.setattr("koolivarav.accounts.services.secrets.token_hex", lambda n: "78ecd619")
    assert make_temporary_password(parent) == "78ecd619"


def test_administrators_are_told_of_a_new_application(school, school_admin, other_school):
    SchoolAdminFactory(school=other_school)
    _application(school)
    (notice,) = Email.objects.filter(kind="applications.new_application")
    assert notice.to_address == school_admin.email
    assert PARENT not in str(notice.context)


def test_the_notice_can_be_switched_off(school, school_admin):
    school.notify_admins_of_new_applications = False
    school.save()
    _application(school)
    assert not Email.objects.filter(kind="applications.new_application").exists()


# --- concurrency on PostgreSQL ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_approvals_make_one_account_and_one_email(school, school_admin):
    applications = [
        _application(school, parent=make_id_code(birth=date(1980, 1, 1), female=False, serial=n))
        for n in range(5)
    ]
    for application in applications:
        Application.objects.filter(pk=application.pk).update(email=f"p{application.pk}@example.ee")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def approve(application_id):
        try:
            barrier.wait()
            approve_application(application_id=application_id, decided_by=school_admin)
            outcomes.append("approved")
        except AlreadyDecided:
            outcomes.append("already")
        finally:
            connections.close_all()

    for application in applications:
        threads = [threading.Thread(target=approve, args=(application.pk,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert outcomes.count("approved") == 5
    assert outcomes.count("already") == 15
    assert User.objects.filter(role=User.Role.PARENT).count() == 5
    assert Email.objects.filter(kind="accounts.login_details").count() == 5
