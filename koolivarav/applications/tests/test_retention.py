"""Personal data is kept no longer than needed."""

import io
from datetime import date, timedelta

import time_machine
from django.core.management import call_command
from django.utils import timezone

from koolivarav.accounts.models import AuditEntry
from koolivarav.applications.models import Application
from koolivarav.applications.services import (
    ApplicantData,
    approve_application,
    purge_rejected_applications,
    reject_application,
    submit_application,
)
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory


def _application(school, n):
    student = StudentFactory(school=school)
    data = ApplicantData(
        parent_id_code=make_id_code(birth=date(1981, 2, 1 + n), female=True, serial=n),
        first_name="Mari",
        last_name=f"Vanem{n}",
        email=f"vanem{n}@example.ee",
        phone="+37255512345",
        child_id_codes=(student.id_code,),
    )
    return submit_application(school=school, data=data, language="et")


def test_old_rejected_applications_go_and_leave_an_anonymous_stub(school, school_admin, settings):
    with time_machine.travel(timezone.now() - timedelta(days=91)):
        old = _application(school, 1)
        reject_application(
            application_id=old.pk, decided_by=school_admin, reason="Andmed ei klapi."
        )
        kept_approved = _application(school, 2)
        approve_application(application_id=kept_approved.pk, decided_by=school_admin)
        kept_pending = _application(school, 3)
    recent = _application(school, 4)
    reject_application(application_id=recent.pk, decided_by=school_admin, reason="Hiljuti.")

    assert purge_rejected_applications() == 1

    assert set(Application.objects.values_list("pk", flat=True)) == {
        kept_approved.pk,
        kept_pending.pk,
        recent.pk,
    }
    stub = AuditEntry.objects.get(reference=old.reference)
    assert (stub.action, stub.actor, stub.target, stub.details) == (
        "rejected",
        school_admin,
        "—",
        "",
    )
    assert AuditEntry.objects.get(reference=recent.reference).details == "Hiljuti."
    assert "Vanem1" not in str(list(AuditEntry.objects.values()))


def test_old_emails_lose_their_recipient_and_content(school, school_admin):
    with time_machine.travel(timezone.now() - timedelta(days=91)):
        application = _application(school, 1)
        reject_application(application_id=application.pk, decided_by=school_admin, reason="x")
        deliver_due_emails()
    fresh = _application(school, 2)
    reject_application(application_id=fresh.pk, decided_by=school_admin, reason="y")
    out = io.StringIO()
    call_command("purge_personal_data", stdout=out)
    assert "Deleted 1 rejected application(s)" in out.getvalue()
    old_mail = Email.objects.get(kind="applications.rejected", to_address="")
    assert (old_mail.context, old_mail.subject, old_mail.status) == ({}, "", Email.Status.SENT)
    assert Email.objects.filter(to_address="vanem2@example.ee").exists()  # not yet old, not sent


def test_the_retention_period_is_a_setting(school, school_admin, settings):
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "REJECTED_APPLICATION_RETENTION_DAYS": 10}
    with time_machine.travel(timezone.now() - timedelta(days=11)):
        application = _application(school, 1)
        reject_application(application_id=application.pk, decided_by=school_admin, reason="x")
    assert purge_rejected_applications() == 1
