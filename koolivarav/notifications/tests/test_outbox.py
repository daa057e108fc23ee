import smtplib

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails, queue_email, retry_email


def _queue(school, n=1):
    with transaction.atomic():
        return [
            queue_email(
                school=school,
                to=f"vanem{i}@example.ee",
                kind="test",
                template="applications/email/new_application",
                context={"review_url": "https://jpk.example.ee/admin/"},
            )
            for i in range(n)
        ]


def test_an_email_reaches_the_smtp_server_with_the_schools_name_as_sender(school, smtp_server):
    (email,) = _queue(school)
    assert deliver_due_emails() == 1
    (message,) = smtp_server.messages
    assert message["From"] == "Jõgeva Põhikool <robot@ope.ee>"
    assert message["Message-ID"] == email.message_id
    email.refresh_from_db()
    assert email.status == Email.Status.SENT
    assert email.sent_at is not None


def test_queueing_wakes_the_worker_only_after_commit(school, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        _queue(school)
    assert len(callbacks) == 1


def test_a_rolled_back_decision_leaves_no_email(
    school, smtp_server, django_capture_on_commit_callbacks
):
    def decide_and_fail():
        with transaction.atomic():
            _queue(school)
            raise RuntimeError("the decision failed")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        decide_and_fail()
    assert callbacks == []
    assert Email.objects.count() == 0
    assert deliver_due_emails() == 0
    assert smtp_server.messages == []


def test_smtp_down_then_up_delivers_everything_once(school, smtp_server):
    _queue(school, 5)
    smtp_server.stop()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        deliver_due_emails()
        assert set(Email.objects.values_list("status", flat=True)) == {Email.Status.QUEUED}
        assert all(e.last_error for e in Email.objects.all())
        deliver_due_emails()  # not due yet: nothing is tried again
        assert set(Email.objects.values_list("attempts", flat=True)) == {1}
        smtp_server.start()
        traveller.shift(120)
        assert deliver_due_emails() == 5
    received = smtp_server.messages
    assert sorted(m["To"] for m in received) == [f"vanem{i}@example.ee" for i in range(5)]
    assert len({m["Message-ID"] for m in received}) == 5
    assert set(Email.objects.values_list("status", flat=True)) == {Email.Status.SENT}


def test_a_temporary_refusal_is_retried_until_delivered(school, smtp_server):
    smtp_server.handler.refusals = ["451 try later", "451 try later"]
    (email,) = _queue(school)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(3):
            deliver_due_emails()
            traveller.shift(3600)
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.SENT, 3)
    assert len(smtp_server.messages) == 1


def test_a_permanent_refusal_fails_after_one_attempt_and_can_be_retried(school, smtp_server):
    smtp_server.handler.refusals = ["550 no such user"]
    (email,) = _queue(school)
    deliver_due_emails()
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.FAILED, 1)
    assert "550" in email.last_error
    retry_email(email=email)
    deliver_due_emails()
    email.refresh_from_db()
    assert email.status == Email.Status.SENT


def test_an_email_claimed_by_a_worker_that_died_is_sent_after_its_lease(school, smtp_server):
    (email,) = _queue(school)
    Email.objects.filter(pk=email.pk).update(
        status=Email.Status.SENDING, lease_until=timezone.now() + timezone.timedelta(minutes=5)
    )
    assert deliver_due_emails() == 0  # another worker holds it
    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=6)):
        assert deliver_due_emails() == 1
    assert len(smtp_server.messages) == 1


def test_giving_up_after_the_last_attempt(school, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens on discard
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "EMAIL_MAX_ATTEMPTS": 2}
    (email,) = _queue(school)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(3):
            deliver_due_emails()
            traveller.shift(7200)
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.FAILED, 2)


def test_permanent_errors_are_told_from_temporary_ones():
    from koolivarav.notifications.services import _is_permanent

    assert _is_permanent(smtplib.SMTPDataError(550, b"no"))
    assert not _is_permanent(smtplib.SMTPDataError(451, b"later"))
    assert not _is_permanent(ConnectionRefusedError())
