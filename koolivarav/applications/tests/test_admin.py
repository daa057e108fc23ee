"""The review queue in the admin: isolation between schools, approve and reject."""

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from koolivarav.accounts.models import AuditEntry, User
from koolivarav.accounts.tests.factories import SchoolAdminFactory, log_in_as_administrator
from koolivarav.applications.models import Application
from koolivarav.applications.services import ApplicantData, submit_application
from koolivarav.notifications.models import Email
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory

CHANGELIST = reverse("admin:applications_application_changelist")


def _apply(school, n=0, last_name="Maasikas", guardian=False):
    parent = make_id_code(birth=date(1980, 1 + n % 12, 1 + n % 28), female=True, serial=n)
    student = StudentFactory(school=school, guardian_id_codes=[parent] if guardian else [])
    data = ApplicantData(
        parent_id_code=parent,
        first_name="Mari",
        last_name=last_name,
        email=f"vanem{n}@example.ee",
        phone="+37255512345",
        child_id_codes=(student.id_code,),
    )
    return submit_application(school=school, data=data, language="et")


@pytest.fixture
def theirs(other_school):
    return _apply(other_school, n=20, last_name="Teisekooli")


def test_the_queue_shows_only_the_schools_own_applications(admin_client_of_school, school, theirs):
    _apply(school, last_name="Omakooli")
    page = admin_client_of_school.get(CHANGELIST).content.decode()
    assert "Omakooli" in page
    assert "Teisekooli" not in page


def test_search_does_not_reach_another_school(admin_client_of_school, theirs):
    response = admin_client_of_school.get(CHANGELIST, {"q": "Teisekooli"})
    assert list(response.context["cl"].result_list) == []


def test_another_schools_application_cannot_be_opened_or_approved(admin_client_of_school, theirs):
    change = reverse("admin:applications_application_change", args=[theirs.pk])
    assert admin_client_of_school.get(change).status_code == 302
    approve = reverse("admin:applications_application_approve", args=[theirs.pk])
    assert admin_client_of_school.post(approve).status_code == 404
    admin_client_of_school.post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [theirs.pk]}
    )
    theirs.refresh_from_db()
    assert theirs.status == Application.Status.PENDING
    assert not User.objects.filter(role=User.Role.PARENT).exists()


def test_pending_applications_come_first(admin_client_of_school, school, school_admin):
    from koolivarav.applications.services import approve_application

    older = _apply(school, n=1, last_name="Vanem")
    approve_application(application_id=older.pk, decided_by=school_admin)
    _apply(school, n=2, last_name="Ootel")
    response = admin_client_of_school.get(CHANGELIST)
    names = [a.last_name for a in response.context["cl"].result_list]
    assert names == ["Ootel", "Vanem"]


def test_the_status_filter_shows_one_status(admin_client_of_school, school, school_admin):
    from koolivarav.applications.services import reject_application

    rejected = _apply(school, n=1, last_name="Tagasi")
    reject_application(application_id=rejected.pk, decided_by=school_admin, reason="x")
    _apply(school, n=2, last_name="Ootel")
    response = admin_client_of_school.get(CHANGELIST, {"status__exact": "rejected"})
    assert [a.last_name for a in response.context["cl"].result_list] == ["Tagasi"]


def test_the_match_card_shows_children_guardianship_and_account(admin_client_of_school, school):
    application = _apply(school, guardian=True)
    child = application.children.get()
    page = admin_client_of_school.get(
        reverse("admin:applications_application_change", args=[application.pk])
    ).content.decode()
    assert child.id_code in page
    assert f"{child.first_name} {child.last_name}" in page
    assert child.class_name in page
    assert "<td>jah</td>" in page
    assert "Lapsevanemal pole siin veel kontot" in page


def test_the_list_is_paginated_with_a_constant_number_of_queries(
    admin_client_of_school, school, django_assert_max_num_queries
):
    for n in range(60):
        _apply(school, n=n)
    with django_assert_max_num_queries(15):
        response = admin_client_of_school.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 50


def test_approving_many_at_once(admin_client_of_school, school):
    applications = [_apply(school, n=n) for n in range(3)]
    response = admin_client_of_school.post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [a.pk for a in applications]}
    )
    assert response.status_code == 302
    assert Application.objects.filter(status=Application.Status.APPROVED).count() == 3
    assert Email.objects.filter(kind="accounts.login_details").count() == 3
    assert AuditEntry.objects.filter(action=AuditEntry.Action.APPROVED).count() == 3


def test_rejecting_asks_for_a_reason_then_tells_the_parent(admin_client_of_school, school):
    application = _apply(school)
    first = admin_client_of_school.post(
        CHANGELIST, {"action": "reject_selected", "_selected_action": [application.pk]}
    )
    assert first.status_code == 200
    assert "Põhjus" in first.content.decode()
    missing = admin_client_of_school.post(
        CHANGELIST,
        {
            "action": "reject_selected",
            "_selected_action": [application.pk],
            "apply_reject": "1",
            "reason": "other",
        },
    )
    assert "Kirjuta lapsevanemale põhjus" in missing.content.decode()
    admin_client_of_school.post(
        CHANGELIST,
        {
            "action": "reject_selected",
            "_selected_action": [application.pk],
            "apply_reject": "1",
            "reason": "not_guardian",
            "details": "Palun võta ühendust.",
        },
    )
    application.refresh_from_db()
    assert application.status == Application.Status.REJECTED
    assert application.rejection_reason.startswith("Kooli andmetes ei ole sind märgitud")
    assert application.rejection_reason.endswith("Palun võta ühendust.")
    assert Email.objects.filter(kind="applications.rejected", to_address=application.email).exists()


def test_a_reason_with_control_characters_is_refused(admin_client_of_school, school):
    application = _apply(school)
    response = admin_client_of_school.post(
        CHANGELIST,
        {
            "action": "reject_selected",
            "_selected_action": [application.pk],
            "apply_reject": "1",
            "reason": "other",
            "details": "Palun\x1b[2J helista\x07 kooli.",
        },
    )
    assert "nähtamatuid juhtmärke" in response.content.decode()
    application.refresh_from_db()
    assert application.status == Application.Status.PENDING
    assert not Email.objects.filter(kind="applications.rejected").exists()


def test_applications_and_the_audit_trail_cannot_be_deleted(
    admin_client_of_school, school, school_admin
):
    from koolivarav.applications.services import approve_application

    application = _apply(school)
    approve_application(application_id=application.pk, decided_by=school_admin)
    entry = AuditEntry.objects.get()
    for url in (
        reverse("admin:applications_application_delete", args=[application.pk]),
        reverse("admin:accounts_auditentry_delete", args=[entry.pk]),
    ):
        admin_client_of_school.post(url, {"post": "yes"})
    assert Application.objects.filter(pk=application.pk).exists()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    page = admin_client_of_school.get(
        reverse("admin:accounts_auditentry_changelist")
    ).content.decode()
    assert "kiitis taotluse heaks" in page


def test_another_schools_audit_trail_and_emails_are_not_shown(school, other_school, school_admin):
    from koolivarav.applications.services import approve_application

    other_admin = SchoolAdminFactory(school=other_school)
    approve_application(
        application_id=_apply(other_school, n=5, last_name="Teisekooli").pk, decided_by=other_admin
    )
    client = Client(HTTP_HOST="jpk.example.ee")
    log_in_as_administrator(client, school_admin)
    assert (
        "Teisekooli"
        not in client.get(reverse("admin:accounts_auditentry_changelist")).content.decode()
    )
    assert (
        "vanem5@"
        not in client.get(reverse("admin:notifications_email_changelist")).content.decode()
    )


def test_resending_login_details_from_the_admin(admin_client_of_school, school, school_admin):
    from koolivarav.applications.services import approve_application

    approve_application(application_id=_apply(school).pk, decided_by=school_admin)
    parent = User.objects.get(role=User.Role.PARENT)
    admin_client_of_school.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "resend_login_details", "_selected_action": [parent.pk]},
    )
    assert Email.objects.filter(kind="accounts.login_details", to_address=parent.email).count() == 2
    assert AuditEntry.objects.filter(action=AuditEntry.Action.RESENT).count() == 1


def test_a_failed_email_can_be_retried_from_the_admin(admin_client_of_school, school):
    _apply(school)
    email = Email.objects.get()
    Email.objects.filter(pk=email.pk).update(
        status=Email.Status.FAILED, last_error="550 no such user"
    )
    page = admin_client_of_school.get(
        reverse("admin:notifications_email_changelist")
    ).content.decode()
    assert "550 no such user" in page
    admin_client_of_school.post(
        reverse("admin:notifications_email_changelist"),
        {"action": "retry", "_selected_action": [email.pk]},
    )
    email.refresh_from_db()
    assert email.status == Email.Status.QUEUED


def test_a_huge_queue_is_counted_only_up_to_the_cap(admin_client_of_school, school, monkeypatch):
    from koolivarav.schools.admin import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "CAP", 5)
    for n in range(8):
        _apply(school, n=n)
    response = admin_client_of_school.get(CHANGELIST)
    assert response.context["cl"].result_count == 6
    assert "rohkem kui 5 taotlust" in response.content.decode()
