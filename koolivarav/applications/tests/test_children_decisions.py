"""Per-child decisions: some children added, others not, each with a reason (issue 14 item 3)."""

import threading
from datetime import date

import pytest
from django.db import connection, connections

from koolivarav.accounts.models import AuditEntry, User
from koolivarav.accounts.tests.factories import UserFactory
from koolivarav.applications.models import Application, ChildDecision
from koolivarav.applications.services import (
    AlreadyDecided,
    ApplicantData,
    ChildrenChanged,
    ChildrenDecision,
    NoChildAdded,
    approve_application,
    reject_application,
    submit_application,
)
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory

PARENT = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)
EMAIL = "mari.maasikas@example.ee"


@pytest.fixture
def kart(school):
    return StudentFactory(
        school=school, first_name="Kärt", last_name="Maasikas", class_name="3.b",
        guardian_id_codes=[PARENT],
    )  # fmt: skip


@pytest.fixture
def juri(school):
    return StudentFactory(school=school, first_name="Jüri", last_name="Maasikas", class_name="7.a")


def _apply(school, *children, language="et"):
    return submit_application(
        school=school,
        data=ApplicantData(
            parent_id_code=PARENT,
            first_name="Mari",
            last_name="Maasikas",
            email=EMAIL,
            phone="+37255512345",
            child_id_codes=tuple(c.id_code for c in children),
        ),
        language=language,
    )


REASON = "Kooli andmetes ei ole sind märgitud selle lapse vanemaks."


def test_the_account_gets_only_the_approved_children(school, school_admin, kart, juri):
    application = _apply(school, kart, juri)
    approve_application(
        application_id=application.pk,
        decided_by=school_admin,
        children=ChildrenDecision(added=[kart.pk], declined={juri.pk: REASON}),
    )
    user = User.objects.get(id_code=PARENT)
    assert list(user.children.all()) == [kart]
    application.refresh_from_db()
    assert application.status == Application.Status.APPROVED
    assert application.account == user
    decisions = {d.student: d for d in ChildDecision.objects.filter(application=application)}
    assert decisions[kart].approved
    assert not decisions[juri].approved
    assert decisions[juri].reason == REASON


def test_the_parent_is_told_who_was_added_and_why_the_others_not_with_the_contact(
    school, school_admin, kart, juri, smtp_server
):
    school.office_email = "kantselei@jpk.example.ee"
    school.save()
    application = _apply(school, kart, juri)
    approve_application(
        application_id=application.pk,
        decided_by=school_admin,
        children=ChildrenDecision(added=[kart.pk], declined={juri.pk: REASON}),
    )
    deliver_due_emails()
    subject = f"[{school.name}] " + _et("The decision on your application")
    [decision] = [m for m in smtp_server.messages if m["Subject"].strip() == subject]
    assert decision["To"] == EMAIL
    body = decision.get_body(("plain",)).get_content()
    assert "Kärt Maasikas (3.b)" in body
    assert f"Jüri Maasikas (7.a). {_et('Reason:')} {REASON}" in body
    assert _et("The login details come in a separate e-mail.") in body
    assert "kantselei@jpk.example.ee" in body
    # The login details come as ever, and name no child.
    [login] = [m for m in smtp_server.messages if m is not decision and m["To"] == EMAIL]
    assert "Ajutine salasõna on:" in login.get_body(("plain",)).get_content()


def _et(text: str) -> str:
    from django.utils import translation

    with translation.override("et"):
        return translation.gettext(text)


def test_an_existing_account_gets_one_email_that_says_both(school, school_admin, kart, juri):
    parent = UserFactory(school=school, id_code=PARENT, email=EMAIL)
    application = _apply(school, kart, juri)
    approve_application(
        application_id=application.pk,
        decided_by=school_admin,
        children=ChildrenDecision(added=[kart.pk], declined={juri.pk: REASON}),
    )
    assert list(parent.children.all()) == [kart]
    decisions = Email.objects.exclude(kind__in=["applications.new_application"])
    assert [e.kind for e in decisions] == ["applications.partly_approved"]
    assert decisions.get().context["new_account"] is False


def test_the_audit_trail_records_each_childs_decision(school, school_admin, kart, juri):
    application = _apply(school, kart, juri)
    approve_application(
        application_id=application.pk,
        decided_by=school_admin,
        children=ChildrenDecision(added=[kart.pk], declined={juri.pk: REASON}),
    )
    entries = AuditEntry.objects.filter(reference=application.reference).order_by("pk")
    assert [(e.action, e.actor) for e in entries] == [
        (AuditEntry.Action.APPROVED, school_admin),
        (AuditEntry.Action.REJECTED, school_admin),
    ]
    assert entries[0].details == "Kärt Maasikas (3.b)"
    assert "Jüri Maasikas (7.a)" in entries[1].details
    assert REASON in entries[1].details
    assert "Kärt" not in entries[1].details


def test_approving_everyone_is_as_before(school, school_admin, kart, juri):
    application = _apply(school, kart, juri)
    approve_application(
        application_id=application.pk,
        decided_by=school_admin,
        children=ChildrenDecision(added=[kart.pk, juri.pk]),
    )
    assert set(User.objects.get(id_code=PARENT).children.all()) == {kart, juri}
    assert AuditEntry.objects.get().action == AuditEntry.Action.APPROVED
    kinds = set(Email.objects.values_list("kind", flat=True))
    assert "applications.partly_approved" not in kinds
    assert ChildDecision.objects.filter(approved=True).count() == 2


def test_a_decision_adding_no_child_is_refused(school, school_admin, kart, juri):
    application = _apply(school, kart, juri)
    with pytest.raises(NoChildAdded):
        approve_application(
            application_id=application.pk,
            decided_by=school_admin,
            children=ChildrenDecision(added=[], declined={kart.pk: REASON, juri.pk: REASON}),
        )
    application.refresh_from_db()
    assert application.status == Application.Status.PENDING


def test_a_child_added_meanwhile_stops_the_decision_and_leaves_nothing(
    school, school_admin, kart, juri
):
    """The reviewer saw one child; the parent added another before Approve: nothing is
    decided, no account, no e-mail, no audit entry."""
    application = _apply(school, kart)
    _apply(school, juri)  # the same contact data: joins the pending application
    with pytest.raises(ChildrenChanged):
        approve_application(
            application_id=application.pk,
            decided_by=school_admin,
            children=ChildrenDecision(added=[kart.pk]),
        )
    application.refresh_from_db()
    assert application.status == Application.Status.PENDING
    assert not User.objects.filter(id_code=PARENT).exists()
    assert not ChildDecision.objects.exists()
    assert not AuditEntry.objects.exists()
    assert not Email.objects.filter(kind="accounts.login_details").exists()


def test_a_failing_partial_approval_leaves_nothing(school, school_admin, kart, juri):
    """The e-mail address is another account's: the whole decision rolls back."""
    UserFactory(school=school, id_code="", email=EMAIL)
    application = _apply(school, kart, juri)
    from koolivarav.applications.services import EmailBelongsToAnotherAccount

    with pytest.raises(EmailBelongsToAnotherAccount):
        approve_application(
            application_id=application.pk,
            decided_by=school_admin,
            children=ChildrenDecision(added=[kart.pk], declined={juri.pk: REASON}),
        )
    application.refresh_from_db()
    assert application.status == Application.Status.PENDING
    assert not ChildDecision.objects.exists()
    assert not Email.objects.filter(kind="applications.partly_approved").exists()


def test_a_rejection_records_every_child_as_not_added(school, school_admin, kart, juri):
    application = _apply(school, kart, juri)
    reject_application(application_id=application.pk, decided_by=school_admin, reason=REASON)
    assert {(d.student, d.approved, d.reason) for d in ChildDecision.objects.all()} == {
        (kart, False, REASON),
        (juri, False, REASON),
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_per_child_decisions_decide_once(school, school_admin, kart, juri):
    application = _apply(school, kart, juri)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def decide(n):
        try:
            barrier.wait()
            added = [kart.pk] if n % 2 else [kart.pk, juri.pk]
            declined = {juri.pk: REASON} if n % 2 else {}
            approve_application(
                application_id=application.pk,
                decided_by=school_admin,
                children=ChildrenDecision(added=added, declined=declined),
            )
            outcomes.append("decided")
        except AlreadyDecided:
            outcomes.append("already")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already", "already", "already", "decided"]
    assert ChildDecision.objects.count() == 2
    assert User.objects.filter(id_code=PARENT).count() == 1
