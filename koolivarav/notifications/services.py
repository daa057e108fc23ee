"""The outbox: queueing e-mails with a decision, and delivering them with retries."""

import logging
import smtplib
from datetime import timedelta
from email.headerregistry import Address
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Q
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import timezone, translation

from koolivarav.schools.models import School

from . import preparers
from .models import Email

logger = logging.getLogger(__name__)


def _lease() -> timedelta:
    """How long a worker may take over one e-mail before another worker may take it over."""
    return timedelta(seconds=settings.KOOLIVARAV["EMAIL_LEASE_SECONDS"])


def queue_email(
    *,
    school: School,
    to: str,
    kind: str,
    template: str,
    context: dict[str, Any] | None = None,
    language: str = "et",
) -> Email:
    """Put an e-mail in the outbox. Call inside the transaction of the decision behind it:
    if that rolls back, so does the e-mail; once it commits, the worker is woken."""
    domain = school.sender_email.rpartition("@")[2] or "localhost"
    email = Email.objects.create(
        school=school,
        to_address=to,
        kind=kind,
        template=template,
        context=context or {},
        language=language,
        message_id=Email.new_message_id(domain),
    )
    transaction.on_commit(wake_worker)
    return email


def wake_worker(run_after: Any = None) -> None:
    from .tasks import deliver_due_emails_task

    task = (
        deliver_due_emails_task.using(run_after=run_after) if run_after else deliver_due_emails_task
    )
    task.enqueue()


def _due(now: Any) -> Q:
    return Q(status=Email.Status.QUEUED, next_attempt_at__lte=now) | Q(
        status=Email.Status.SENDING, lease_until__lt=now
    )


def _claim(email_id: int) -> bool:
    """Take one e-mail for sending; False if another worker was faster."""
    now = timezone.now()
    # A conditional UPDATE: of two workers, exactly one changes the row (on any database).
    return bool(
        Email.objects.filter(_due(now), pk=email_id).update(
            status=Email.Status.SENDING, lease_until=now + _lease()
        )
    )


def _backoff(attempts: int) -> timedelta:
    base = settings.KOOLIVARAV["EMAIL_RETRY_SECONDS"]
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600))


def _render(email: Email, extra: dict[str, Any]) -> EmailMultiAlternatives:
    school = email.school
    context = {**email.context, **extra, "school": school, "portal_url": school.portal_url}
    with translation.override(email.language):
        subject = " ".join(render_to_string(f"{email.template}.subject.txt", context).split())
        body = render_to_string(f"{email.template}.txt", context)
        try:
            html: str | None = render_to_string(f"{email.template}.html", context)
        except TemplateDoesNotExist:
            html = None
    message = EmailMultiAlternatives(
        subject=subject,
        body=body,
        # Quoted where the name needs it; Django encodes the non-ASCII letters when sending.
        from_email=str(Address(display_name=school.name, addr_spec=school.sender_email)),
        to=[email.to_address],
        headers={"Message-ID": email.message_id},
    )
    if html:
        message.attach_alternative(html, "text/html")
    return message


def _is_permanent(error: Exception) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _msg in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


def deliver(email: Email) -> None:
    """Send one claimed e-mail and record the outcome."""
    email.attempts += 1
    try:
        prepared = preparers.prepare(email)
        message = _render(email, prepared.context)
    except preparers.SkipEmail as skip:
        Email.objects.filter(pk=email.pk).update(
            status=Email.Status.FAILED, attempts=email.attempts, last_error=str(skip)[:1000]
        )
        return
    try:
        with get_connection(fail_silently=False) as connection:
            connection.send_messages([message])
    except (TimeoutError, smtplib.SMTPException, OSError) as error:
        permanent = (
            _is_permanent(error) or email.attempts >= settings.KOOLIVARAV["EMAIL_MAX_ATTEMPTS"]
        )
        next_attempt = timezone.now() + _backoff(email.attempts)
        Email.objects.filter(pk=email.pk).update(
            status=Email.Status.FAILED if permanent else Email.Status.QUEUED,
            attempts=email.attempts,
            last_error=f"{error.__class__.__name__}: {error}"[:1000],
            next_attempt_at=next_attempt,
            lease_until=None,
        )
        logger.warning(
            "e-mail %s not delivered (attempt %s): %s",
            email.pk,
            email.attempts,
            error.__class__.__name__,
        )
        if not permanent:
            wake_worker(run_after=next_attempt)
        return
    # Delivered: whatever the preparer must keep (a password hash) is kept in the same
    # transaction that marks the e-mail sent. A crash before this commit re-sends the
    # e-mail later, with a new password; the newest e-mail's password is the one that works.
    with transaction.atomic():
        prepared.on_sent()
        Email.objects.filter(pk=email.pk).update(
            status=Email.Status.SENT,
            attempts=email.attempts,
            subject=message.subject[:300],
            sent_at=timezone.now(),
            last_error="",
            lease_until=None,
        )


def deliver_due_emails(*, limit: int = 100) -> int:
    """Send the e-mails that are due; returns how many were sent or finally failed."""
    done = 0
    candidates = list(
        Email.objects.filter(_due(timezone.now()))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for email_id in candidates:
        if not _claim(email_id):
            continue
        email = Email.objects.select_related("school").get(pk=email_id)
        deliver(email)
        done += 1
    return done


def wake_worker_for_abandoned_emails() -> None:
    """For a worker that starts: a pass now, and one when the e-mails that a dead worker was
    sending (still leased to it) may be taken over."""
    wake_worker()
    last_lease = (
        Email.objects.filter(status=Email.Status.SENDING, lease_until__isnull=False)
        .order_by("-lease_until")
        .values_list("lease_until", flat=True)
        .first()
    )
    if last_lease is not None and last_lease > timezone.now():
        wake_worker(run_after=last_lease + timedelta(seconds=1))


def retry_email(*, email: Email) -> None:
    """An administrator's retry of a failed e-mail."""
    with transaction.atomic():
        Email.objects.filter(pk=email.pk, status=Email.Status.FAILED).update(
            status=Email.Status.QUEUED, attempts=0, next_attempt_at=timezone.now()
        )
        transaction.on_commit(wake_worker)


def purge_old_emails(*, older_than_days: int) -> int:
    """Wipe the recipient and the content of e-mails that were sent or given up on long ago;
    the row stays (kind, status, times) for the record. Returns how many were wiped."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    return (
        Email.objects.filter(
            status__in=[Email.Status.SENT, Email.Status.FAILED], created_at__lt=cutoff
        )
        .exclude(to_address="")
        .update(to_address="", context={}, subject="", last_error="")
    )
