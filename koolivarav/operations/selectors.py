"""What the readiness check and the metrics read from the database: counts and ages only,
never a person's data."""

from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone

from koolivarav.applications.models import Application
from koolivarav.notifications.models import Email
from koolivarav.schools.models import School


def oldest_due_email_since(*, now: datetime | None = None) -> datetime | None:
    """Since when the longest-waiting e-mail has been due, or None when none is due.

    Due is what a worker would take now (notifications.services): queued and past its next
    attempt, or being sent by a worker whose lease ran out (a worker that died). A working
    worker keeps this a few seconds old at most; a stopped or stuck one lets it grow.
    """
    now = now or timezone.now()
    queued = Email.objects.filter(status=Email.Status.QUEUED, next_attempt_at__lte=now)
    abandoned = Email.objects.filter(status=Email.Status.SENDING, lease_until__lt=now)
    times = [
        queued.aggregate(since=Min("next_attempt_at"))["since"],
        abandoned.aggregate(since=Min("lease_until"))["since"],
    ]
    return min((t for t in times if t is not None), default=None)


def emails_by_status() -> dict[str, int]:
    """How many e-mails the outbox holds in each state (every state named, 0 included)."""
    counts = dict.fromkeys(Email.Status.values, 0)
    for row in Email.objects.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def pending_applications_per_school() -> dict[str, int]:
    """Applications waiting for a decision, by the school's short name (every school named)."""
    counts = dict.fromkeys(School.objects.values_list("short_name", flat=True), 0)
    pending = Application.objects.filter(status=Application.Status.PENDING).order_by()
    for row in pending.values("school__short_name").annotate(n=Count("pk")):
        counts[row["school__short_name"]] = row["n"]
    return counts
