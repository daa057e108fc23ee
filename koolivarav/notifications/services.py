"""The outbox: queueing e-mails with a decision, and delivering them with retries."""

import logging
import re
import smtplib
from datetime import timedelta
from email.header import Header
from email.headerregistry import Address
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import sanitize_address
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import timezone, translation

from koolivarav.schools.models import School

from . import preparers
from .addresses import is_deliverable_email
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


class _OutboxMessage(EmailMultiAlternatives):
    def message(self, **kwargs: Any) -> Any:
        message = super().message(**kwargs)
        if not str(self.subject).isascii():
            # Django encodes a non-ASCII subject without knowing the header's name, so the
            # encoded words start on a folded line ("Subject:" CRLF SP "=?utf-8?…"), which
            # the standard library's parser (and mail clients built on it) reads with a
            # leading space. Encoded knowing its name, the first word stays on the line.
            message.replace_header(
                "Subject",
                Header(str(self.subject), self.encoding or "utf-8", header_name="Subject"),
            )
        return message


def _context(email: Email, extra: dict[str, Any]) -> dict[str, Any]:
    school = email.school
    return {**email.context, **extra, "school": school, "portal_url": school.portal_url}


# What a kept copy of an e-mail shows instead of a value made at sending time (a password).
MASK = "••••••••"


def _masked(text: str, prepared: preparers.Prepared) -> str:
    for secret in sorted(prepared.secrets(), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _render(email: Email, extra: dict[str, Any]) -> EmailMultiAlternatives:
    school = email.school
    context = _context(email, extra)
    with translation.override(email.language):
        subject = " ".join(render_to_string(f"{email.template}.subject.txt", context).split())
        body = render_to_string(f"{email.template}.txt", context)
        try:
            html: str | None = render_to_string(f"{email.template}.html", context)
        except TemplateDoesNotExist:
            html = None
    message = _OutboxMessage(
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


# A quoted string holding an "@", or any other word holding one: what may be an address.
_ADDRESS_LIKE = re.compile(r"""(?:"[^"]*@[^"]*"|'[^']*@[^']*'|[^\s'"]*@[^\s'"]*)""")


def _without_addresses(text: str) -> str:
    return _ADDRESS_LIKE.sub("[…]", " ".join(text.split()))


def _describe(error: BaseException) -> str:
    """The error's class and text for `last_error`, without anything that may be an address:
    the mailer's messages quote the address they choke on, and that may be anything."""
    return f"{error.__class__.__name__}: {_without_addresses(str(error))}"[:500]


# The database away or busy: not this e-mail's fault. The error ends the pass; the e-mail's
# lease runs out and it is tried again, as after a worker that died.
_DATABASE_AWAY = (OperationalError, InterfaceError)


class _Undeliverable(Exception):
    """This e-mail cannot be sent as it is: `phase` says where it broke."""

    def __init__(self, phase: str, error: Exception) -> None:
        super().__init__(phase)
        self.phase = phase
        self.error = error


def _build(email: Email) -> tuple[preparers.Prepared, EmailMultiAlternatives]:
    """Prepare, render and build the whole message before any connection is opened, so that
    a message the mailer would refuse (an address it cannot parse) fails here, on its own."""
    phase = "preparing"
    try:
        prepared = preparers.prepare(email)
        phase = "rendering"
        message = _render(email, prepared.context)
        phase = "building the message"
        encoding = message.encoding or settings.DEFAULT_CHARSET
        for address in [message.from_email, *message.recipients()]:
            sanitize_address(address, encoding)
        message.message().as_bytes()
    except (preparers.SkipEmail, *_DATABASE_AWAY):
        raise
    except Exception as error:
        raise _Undeliverable(phase, error) from error
    return prepared, message


def _fail(email: Email, last_error: str) -> None:
    Email.objects.filter(pk=email.pk).update(
        status=Email.Status.FAILED,
        attempts=email.attempts,
        last_error=last_error[:1000],
        lease_until=None,
    )


def deliver(email: Email) -> None:
    """Send one claimed e-mail and record the outcome.

    Whatever this one e-mail raises marks it failed, with the error for the administrator, so
    that it never holds up the others; only a mail server that is away or answers "try later"
    leads to another attempt (and a database that is away ends the pass). Neither the recorded
    error nor the log names the address.
    """
    email.attempts += 1
    try:
        prepared, message = _build(email)
    except preparers.SkipEmail as skip:
        _fail(email, _without_addresses(str(skip)))
        return
    except _Undeliverable as undeliverable:
        _give_up(email, undeliverable.phase, undeliverable.error)
        return
    try:
        with get_connection(fail_silently=False) as connection:
            connection.send_messages([message])
    except (TimeoutError, smtplib.SMTPException, OSError) as error:
        _retry_or_give_up(email, error)
        return
    except Exception as error:
        _give_up(email, "sending", error)
        return
    # Delivered: whatever the preparer must keep (a password hash) is kept in the same
    # transaction that marks the e-mail sent. A crash before this commit re-sends the
    # e-mail later, with a new password; the newest e-mail's password is the one that works.
    try:
        with transaction.atomic():
            prepared.on_sent()
            Email.objects.filter(pk=email.pk).update(
                status=Email.Status.SENT,
                attempts=email.attempts,
                subject=message.subject[:300],
                text=_masked(str(message.body), prepared),
                sent_at=timezone.now(),
                last_error="",
                lease_until=None,
            )
    except _DATABASE_AWAY:
        raise
    except Exception as error:
        # The mail server has the e-mail, but what it needed kept was not kept (a password
        # whose hash was not stored does not work): failed, so that it is sent again.
        _give_up(email, "recording the delivery", error)
    else:
        logger.info("e-mail %s sent (%s)", email.pk, email.kind, extra={"email_id": email.pk})


def _give_up(email: Email, phase: str, error: Exception) -> None:
    _fail(email, f"{phase}: {_describe(error)}")
    logger.warning(
        "e-mail %s failed while %s: %s",
        email.pk,
        phase,
        error.__class__.__name__,
        extra={"email_id": email.pk},
    )


def _retry_or_give_up(email: Email, error: Exception) -> None:
    permanent = _is_permanent(error) or email.attempts >= settings.KOOLIVARAV["EMAIL_MAX_ATTEMPTS"]
    next_attempt = timezone.now() + _backoff(email.attempts)
    Email.objects.filter(pk=email.pk).update(
        status=Email.Status.FAILED if permanent else Email.Status.QUEUED,
        attempts=email.attempts,
        last_error=_describe(error)[:1000],
        next_attempt_at=next_attempt,
        lease_until=None,
    )
    logger.warning(
        "e-mail %s not delivered (attempt %s): %s",
        email.pk,
        email.attempts,
        error.__class__.__name__,
        extra={"email_id": email.pk},
    )
    if not permanent:
        wake_worker(run_after=next_attempt)


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


# The kinds of e-mail whose recipient an administrator may correct after a failure: those
# whose address was typed by the person the e-mail is for (an applicant's), registered by the
# app that sends them. Every other kind goes where an account says — a temporary password, a
# reset link, or a notice that an account's e-mail address, role or second factor changed
# (redirecting that notice would defeat it): correct the account instead.
_correctable_kinds: set[str] = set()


def allow_recipient_correction(kind: str) -> None:
    _correctable_kinds.add(kind)


def recipient_can_be_corrected(email: Email) -> bool:
    """Only a failed e-mail of a kind registered with `allow_recipient_correction`, and
    never one made with an account's secret at sending time."""
    return (
        email.status == Email.Status.FAILED
        and email.kind in _correctable_kinds
        and not preparers.is_prepared(email.kind)
    )


def correct_recipient(*, email: Email, to_address: str) -> bool:
    """An administrator's correction of a failed e-mail's address; send it again with
    `retry_email`. False when the e-mail may not be corrected (or is no longer failed)."""
    if not recipient_can_be_corrected(email):
        return False
    if not is_deliverable_email(to_address):
        raise ValueError("the mailer cannot send to this address")
    return bool(
        Email.objects.filter(pk=email.pk, status=Email.Status.FAILED).update(to_address=to_address)
    )


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
        .update(to_address="", context={}, subject="", text="", last_error="")
    )


def text_of(email: Email) -> tuple[str, bool]:
    """The plain text of an e-mail for the admin, and whether it is the text as sent.

    A sent e-mail shows the copy kept when it was sent. One not sent (yet) shows the text it
    would have now, made the way the worker makes it, with every value a preparer makes at
    sending time masked: the preview never shows a working password or link.
    """
    if email.status == Email.Status.SENT and email.text:
        return email.text, True
    if not email.template or not email.to_address:
        return "", False  # wiped by the retention purge
    try:
        prepared = preparers.prepare(email)
        shown = {
            key: value if key in prepared.shown or not isinstance(value, str) else MASK
            for key, value in prepared.context.items()
        }
        with translation.override(email.language):
            return render_to_string(f"{email.template}.txt", _context(email, shown)), False
    except _DATABASE_AWAY:
        raise
    except Exception as error:  # the reason it failed, as the worker found it
        return _describe(error), False
