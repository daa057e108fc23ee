"""Whatever one e-mail raises, the worker records it as failed and goes on with the others."""

import logging

import pytest
from django.db import transaction
from django.utils import timezone

from koolivarav.notifications import preparers
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails, queue_email

# Django's validator accepts it; the mailer decodes the local part into "a\r\nBcc: x@y.example".
INJECTING = "=?utf-8?q?a=0D=0ABcc=3A_x=40y=2Eexample?=@example.ee"
TEMPLATE = "applications/email/new_application"


def _queue(school, *addresses, kind="test", template=TEMPLATE):
    with transaction.atomic():
        return [
            queue_email(
                school=school,
                to=address,
                kind=kind,
                template=template,
                context={"review_url": "https://jpk.example.ee/admin/"},
            )
            for address in addresses
        ]


def _assert_failed_without_address(email, address, phase):
    email.refresh_from_db()
    assert (email.status, email.attempts, email.lease_until) == (Email.Status.FAILED, 1, None)
    assert email.last_error.startswith(phase)
    assert address not in email.last_error
    assert "@" not in email.last_error


def test_an_address_the_mailer_refuses_fails_alone_and_the_others_are_delivered(
    school, smtp_server, caplog
):
    caplog.set_level(logging.DEBUG)
    first, bad, last = _queue(school, "vanem0@example.ee", INJECTING, "vanem2@example.ee")
    assert deliver_due_emails() == 3
    assert [m["To"] for m in smtp_server.messages] == ["vanem0@example.ee", "vanem2@example.ee"]
    assert all(m["Bcc"] is None for m in smtp_server.messages)
    for sent in (first, last):
        sent.refresh_from_db()
        assert sent.status == Email.Status.SENT
    _assert_failed_without_address(bad, INJECTING, "building the message: ValueError")
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("koolivarav")]
    assert ours  # the failure is logged ...
    assert not [line for line in ours if "example" in line or "Bcc" in line]  # ... anonymously


def test_an_email_stuck_in_sending_by_the_old_crash_fails_once_its_lease_runs_out(
    school, smtp_server
):
    (email,) = _queue(school, INJECTING)
    Email.objects.filter(pk=email.pk).update(
        status=Email.Status.SENDING, lease_until=timezone.now() - timezone.timedelta(seconds=1)
    )
    assert deliver_due_emails() == 1
    assert smtp_server.messages == []
    _assert_failed_without_address(email, INJECTING, "building the message: ValueError")


def test_a_preparer_that_raises_fails_only_its_own_email(school, smtp_server, monkeypatch):
    def broken(email):
        raise RuntimeError(f"no account for {email.to_address}")

    monkeypatch.setitem(preparers._preparers, "test.broken", broken)
    _queue(school, "vanem0@example.ee")
    (bad,) = _queue(school, "vanem1@example.ee", kind="test.broken")
    assert deliver_due_emails() == 2
    assert [m["To"] for m in smtp_server.messages] == ["vanem0@example.ee"]
    _assert_failed_without_address(bad, "vanem1@example.ee", "preparing: RuntimeError")


def test_a_missing_template_fails_only_its_own_email(school, smtp_server):
    (bad,) = _queue(school, "vanem1@example.ee", template="notifications/email/no_such")
    _queue(school, "vanem0@example.ee")
    assert deliver_due_emails() == 2
    assert [m["To"] for m in smtp_server.messages] == ["vanem0@example.ee"]
    _assert_failed_without_address(bad, "vanem1@example.ee", "rendering: TemplateDoesNotExist")


def test_an_unexpected_error_while_sending_fails_the_email_without_retrying_it(
    school, smtp_server, monkeypatch
):
    from django.core.mail.backends.smtp import EmailBackend

    real_send = EmailBackend._send

    def send(self, message):
        if message.to == ["vanem1@example.ee"]:
            raise UnicodeEncodeError("ascii", "vanem1@example.ee", 0, 1, "not ASCII")
        return real_send(self, message)

    monkeypatch.setattr(EmailBackend, "_send", send)
    _, bad, _ = _queue(school, "vanem0@example.ee", "vanem1@example.ee", "vanem2@example.ee")
    assert deliver_due_emails() == 3
    assert [m["To"] for m in smtp_server.messages] == ["vanem0@example.ee", "vanem2@example.ee"]
    _assert_failed_without_address(bad, "vanem1@example.ee", "sending: UnicodeEncodeError")
    bad.refresh_from_db()
    assert "not ASCII" in bad.last_error


def test_an_error_after_sending_is_recorded_on_the_email(school, smtp_server, monkeypatch):
    def forgetful(email):
        def on_sent():
            raise RuntimeError("could not keep the password hash")

        return preparers.Prepared(on_sent=on_sent)

    monkeypatch.setitem(preparers._preparers, "test.forgetful", forgetful)
    (email,) = _queue(school, "vanem0@example.ee", kind="test.forgetful")
    (other,) = _queue(school, "vanem1@example.ee")
    assert deliver_due_emails() == 2
    assert len(smtp_server.messages) == 2
    _assert_failed_without_address(email, "vanem0@example.ee", "recording the delivery")
    other.refresh_from_db()
    assert other.status == Email.Status.SENT


def test_an_smtp_refusal_still_names_its_code_but_not_the_address(school, smtp_server):
    smtp_server.handler.refusals = ["550 no such user"]
    (email,) = _queue(school, "vanem0@example.ee")
    deliver_due_emails()
    email.refresh_from_db()
    assert email.status == Email.Status.FAILED
    assert "550" in email.last_error
    assert "vanem0" not in email.last_error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Invalid address "a\\r\\nBcc: x@y.example"', "Invalid address […]"),
        ("{'vanem@example.ee': (550, b'no such user')}", "{[…]: (550, b'no such user')}"),
        ("RCPT TO:<vanem@example.ee> refused", "RCPT […] refused"),
        ("connection refused", "connection refused"),
    ],
)
def test_error_texts_lose_whatever_may_hold_an_address(text, expected):
    from koolivarav.notifications.services import _describe

    assert _describe(ValueError(text)) == f"ValueError: {expected}"


def test_a_database_that_is_away_is_not_blamed_on_the_email(school, monkeypatch):
    from django.db import OperationalError

    def away(email):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setitem(preparers._preparers, "test.away", away)
    (email,) = _queue(school, "vanem0@example.ee", kind="test.away")
    with pytest.raises(OperationalError):
        deliver_due_emails()
    email.refresh_from_db()
    assert email.status == Email.Status.SENDING  # taken over again when its lease runs out
    assert email.lease_until is not None
