"""Asking the parent (issue 14 item 4): the question by e-mail with the status link, the
answer on the status page, and the application back in the review marked answered."""

import re
import threading
from datetime import date

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import translation

from koolivarav.accounts.models import AuditEntry
from koolivarav.applications.models import Application, Question
from koolivarav.applications.services import (
    AddressNotConfirmed,
    AlreadyDecided,
    ApplicantData,
    NoOpenQuestion,
    QuestionAlreadyOpen,
    answer_question,
    approve_application,
    ask_parent,
    status_token,
    submit_application,
)
from koolivarav.applications.tests.receipts import STATUS
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory

PARENT = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)
EMAIL = "mari.maasikas@example.ee"
QUESTION = "Palun saada hooldusõiguse otsuse koopia kooli kantseleisse."
ANSWER = "Saatsin koopia täna hommikul kantselei aadressile."
ANSWER_URL = reverse("applications:status_answer")


def _et(text: str) -> str:
    with translation.override("et"):
        return translation.gettext(text)


def _apply(school, *, hold=False, language="et"):
    student = StudentFactory(school=school)
    return submit_application(
        school=school,
        data=ApplicantData(
            parent_id_code=PARENT,
            first_name="Mari",
            last_name="Maasikas",
            email=EMAIL,
            phone="+37255512345",
            child_id_codes=(student.id_code,),
        ),
        language=language,
        hold=hold,
    )


@pytest.fixture
def application(school):
    return _apply(school)


@pytest.fixture
def asked(application, school_admin):
    ask_parent(application_id=application.pk, asked_by=school_admin, question=QUESTION)
    application.refresh_from_db()
    return application


# --- the services ------------------------------------------------------------------------------


def test_asking_makes_the_application_wait_and_emails_the_status_link(
    school, application, school_admin, smtp_server
):
    question = ask_parent(application_id=application.pk, asked_by=school_admin, question=QUESTION)
    application.refresh_from_db()
    assert application.status == Application.Status.PENDING
    assert application.question_state == Application.QuestionState.ASKED
    assert (question.text, question.asked_by) == (QUESTION, school_admin)
    deliver_due_emails()
    [message] = [
        m
        for m in smtp_server.messages
        if m["To"] == EMAIL and QUESTION in m.get_body(("plain",)).get_content()
    ]
    assert message["Subject"].strip() == f"[{school.name}] " + _et(
        "A question about your application"
    )
    body = message.get_body(("plain",)).get_content()
    [link] = re.findall(r"https?://\S+/apply/status/\?t=\S+", body)
    assert not re.search(r"\d{11}", link)


def test_a_second_question_waits_for_the_first_answer(asked, school_admin):
    with pytest.raises(QuestionAlreadyOpen):
        ask_parent(application_id=asked.pk, asked_by=school_admin, question="Veel üks?")
    assert Question.objects.count() == 1


def test_a_decided_application_is_not_asked(application, school_admin):
    approve_application(application_id=application.pk, decided_by=school_admin)
    with pytest.raises(AlreadyDecided):
        ask_parent(application_id=application.pk, asked_by=school_admin, question=QUESTION)
    assert not Question.objects.exists()
    assert not Email.objects.filter(kind="applications.question").exists()


def test_a_held_back_application_is_not_asked(school, school_admin):
    held = _apply(school, hold=True)
    with pytest.raises(AddressNotConfirmed):
        ask_parent(application_id=held.pk, asked_by=school_admin, question=QUESTION)
    assert not Email.objects.filter(kind="applications.question").exists()


def test_a_waiting_application_can_still_be_decided(asked, school_admin):
    approve_application(application_id=asked.pk, decided_by=school_admin)
    asked.refresh_from_db()
    assert asked.status == Application.Status.APPROVED


def test_a_question_decided_before_sending_is_not_sent(asked, school_admin, smtp_server):
    approve_application(application_id=asked.pk, decided_by=school_admin)
    deliver_due_emails()
    question = Email.objects.get(kind="applications.question")
    assert question.status != Email.Status.QUEUED
    assert not [m for m in smtp_server.messages if QUESTION in str(m.get_body(("plain",)))]


def test_answering_returns_the_application_marked_answered(asked):
    answer_question(application_id=asked.pk, answer=ANSWER)
    asked.refresh_from_db()
    assert asked.question_state == Application.QuestionState.ANSWERED
    question = Question.objects.get()
    assert question.answer == ANSWER
    assert question.answered_at is not None


def test_asking_and_answering_are_in_the_audit_trail(asked, school_admin, school):
    [entry] = AuditEntry.objects.filter(action=AuditEntry.Action.QUESTION_ASKED)
    assert (entry.school, entry.actor, entry.reference) == (school, school_admin, asked.reference)
    assert entry.target == "Mari Maasikas"
    assert QUESTION not in entry.details  # the question stays on the application
    answer_question(application_id=asked.pk, answer=ANSWER)
    [entry] = AuditEntry.objects.filter(action=AuditEntry.Action.QUESTION_ANSWERED)
    assert (entry.school, entry.actor, entry.reference) == (school, None, asked.reference)
    assert ANSWER not in entry.details
    assert PARENT not in f"{entry.target} {entry.details} {entry.reference}"


def test_the_administrator_who_asked_hears_of_the_answer(asked, school_admin, smtp_server):
    deliver_due_emails()  # the question itself
    smtp_server.messages.clear()
    answer_question(application_id=asked.pk, answer=ANSWER)
    deliver_due_emails()
    [message] = smtp_server.messages
    assert message["To"] == school_admin.email
    with translation.override(school_admin.language):
        subject = translation.gettext("The parent answered your question")
    assert message["Subject"].strip().endswith(subject)
    body = message.get_body(("plain",)).get_content()
    change = reverse("admin:applications_application_change", args=[asked.pk])
    assert re.search(rf"https?://\S+{re.escape(change)}", body)
    for private in (ANSWER, QUESTION, "Maasikas", PARENT):  # read in the admin, not the e-mail
        assert private not in body
    assert Email.objects.filter(kind="applications.answered").count() == 1


@pytest.mark.parametrize("change", ["digest", "none", "deactivated"])
def test_an_administrator_who_chose_otherwise_gets_no_answer_email(asked, school_admin, change):
    if change == "deactivated":
        school_admin.is_active = False
    else:
        school_admin.application_notices = change
    school_admin.save()
    answer_question(application_id=asked.pk, answer=ANSWER)
    assert not Email.objects.filter(kind="applications.answered").exists()


def test_a_refused_question_or_answer_leaves_no_audit_entry(asked, school_admin):
    with pytest.raises(QuestionAlreadyOpen):
        ask_parent(application_id=asked.pk, asked_by=school_admin, question="Veel üks?")
    answer_question(application_id=asked.pk, answer=ANSWER)
    with pytest.raises(NoOpenQuestion):
        answer_question(application_id=asked.pk, answer="Teine vastus")
    assert AuditEntry.objects.filter(action=AuditEntry.Action.QUESTION_ASKED).count() == 1
    assert AuditEntry.objects.filter(action=AuditEntry.Action.QUESTION_ANSWERED).count() == 1


def test_the_audit_list_shows_the_question_entries(asked, admin_client_of_school):
    answer_question(application_id=asked.pk, answer=ANSWER)
    with translation.override("et"):
        response = admin_client_of_school.get(reverse("admin:accounts_auditentry_changelist"))
    page = response.content.decode()
    assert response.status_code == 200
    assert _et("asked the applicant a question") in page
    assert _et("the applicant answered a question") in page


def test_a_question_takes_one_answer(asked):
    answer_question(application_id=asked.pk, answer=ANSWER)
    with pytest.raises(NoOpenQuestion):
        answer_question(application_id=asked.pk, answer="Teine vastus")
    assert Question.objects.get().answer == ANSWER


@pytest.mark.parametrize("bad", ["", "   ", "x" * 2001, "Vastus\x1b[2J"])
def test_an_answer_must_be_short_and_printable(asked, bad):
    with pytest.raises(ValueError):  # noqa: PT011 - the forms say which; the service refuses
        answer_question(application_id=asked.pk, answer=bad)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_reviewers_asking_at_once_send_one_question(school, school_admin):
    application = _apply(school)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def ask():
        try:
            barrier.wait()
            ask_parent(application_id=application.pk, asked_by=school_admin, question=QUESTION)
            outcomes.append("asked")
        except QuestionAlreadyOpen:
            outcomes.append("open")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["asked", "open", "open", "open"]
    assert Email.objects.filter(kind="applications.question").count() == 1


# --- the status page -----------------------------------------------------------------------------


@pytest.fixture
def visitor(school):
    return Client(HTTP_HOST="jpk.example.ee")


def test_the_status_page_shows_the_question_and_a_field_for_the_answer(visitor, asked):
    page = visitor.get(STATUS, {"t": status_token(asked)}).content.decode()
    assert QUESTION in page
    assert 'name="answer"' in page
    assert 'maxlength="2000"' in page


def test_the_parent_answers_on_the_status_page(visitor, asked):
    token = status_token(asked)
    response = visitor.post(ANSWER_URL, {"t": token, "answer": ANSWER})
    assert response.status_code == 302
    assert response["Location"] == f"{STATUS}?t={token}"
    assert Question.objects.get().answer == ANSWER
    page = visitor.get(response["Location"]).content.decode()
    assert _et("Thank you: the school has your answer.") in page
    assert 'name="answer"' not in page


def test_a_tampered_token_answers_nothing(visitor, asked):
    response = visitor.post(ANSWER_URL, {"t": status_token(asked) + "x", "answer": ANSWER})
    assert response.status_code == 404
    assert not Question.objects.get().answer


def test_an_answer_with_control_characters_is_refused(visitor, asked):
    response = visitor.post(
        ANSWER_URL, {"t": status_token(asked), "answer": "Saatsin\x1b[2J koopia\x07."}
    )
    assert response.status_code == 400
    assert _et("The answer contains invisible control characters; please retype it.") in (
        response.content.decode()
    )
    assert not Question.objects.get().answer


def test_a_too_long_answer_is_refused(visitor, asked):
    response = visitor.post(ANSWER_URL, {"t": status_token(asked), "answer": "x" * 2001})
    assert response.status_code == 400
    assert not Question.objects.get().answer


def test_answering_is_rate_limited_per_client_address(visitor, asked, settings):
    settings.KOOLIVARAV = {
        **settings.KOOLIVARAV,
        "RATE_LIMITS": {
            **settings.KOOLIVARAV["RATE_LIMITS"],
            "application_form_per_address": (2, 3600),
        },
    }
    token = status_token(asked)
    for _ in range(2):
        visitor.post(ANSWER_URL, {"t": token, "answer": ""})
    response = visitor.post(ANSWER_URL, {"t": token, "answer": ANSWER})
    assert response.status_code == 429
    assert not Question.objects.get().answer


def test_a_second_answer_changes_nothing(visitor, asked):
    token = status_token(asked)
    visitor.post(ANSWER_URL, {"t": token, "answer": ANSWER})
    response = visitor.post(ANSWER_URL, {"t": token, "answer": "Hoopis teine vastus"})
    assert response.status_code == 302
    assert Question.objects.get().answer == ANSWER


def test_no_question_no_answer_field(visitor, application):
    page = visitor.get(STATUS, {"t": status_token(application)}).content.decode()
    assert 'name="answer"' not in page
    response = visitor.post(ANSWER_URL, {"t": status_token(application), "answer": ANSWER})
    assert response.status_code == 302
    assert not Question.objects.exists()
