"""What the readiness check, the metrics, the admin's index and the daily digest read from the
database: counts, ages and states only, never a person's data."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from koolivarav.applications.models import HELD_BACK, Application
from koolivarav.applications.selectors import Records, records_annotation
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


# --- What a school's administrators see first: the admin's index and the daily digest ----------

# Counts stop here, as the queue's paginator does: "10 000+" reads as well as an exact figure,
# and a count is then as fast with a million applications as with a thousand.
COUNT_CAP = 10_000


def _capped_count(queryset: QuerySet[Any]) -> int:
    return queryset.order_by()[: COUNT_CAP + 1].count()


def waiting_applications(school: School) -> QuerySet[Application]:
    """The school's applications that wait for its decision: pending, not held back until
    the address is confirmed, and not waiting for the parent's answer to a question."""
    return (
        Application.objects.filter(school=school, status=Application.Status.PENDING)
        .exclude(HELD_BACK)
        .exclude(question_state=Application.QuestionState.ASKED)
    )


def _confirmed_by_records(applications: QuerySet[Application]) -> QuerySet[Application]:
    """Those a secretary may approve on the records: a verified parent the records listed as
    the guardian of every child, or the records listing the parent for every child now."""
    return applications.annotate(records=records_annotation()).filter(
        Q(listed_as_guardian=True) | Q(records=Records.ALL)
    )


@dataclass(frozen=True)
class SchoolFigures:
    """The admin's index: what waits for the school (each count capped at COUNT_CAP)."""

    waiting: int
    matching: int
    failed_emails: int
    cap: int = COUNT_CAP


def school_figures(school: School) -> SchoolFigures:
    """Three counts, three queries, whatever the number of applications."""
    waiting = waiting_applications(school)
    failed = Email.objects.filter(school=school, status=Email.Status.FAILED).exclude(to_address="")
    return SchoolFigures(
        waiting=_capped_count(waiting),
        matching=_capped_count(_confirmed_by_records(waiting)),
        failed_emails=_capped_count(failed),
    )


@dataclass(frozen=True)
class DigestLine:
    """One waiting application in the digest: no name, no ID code (see `application_digest`)."""

    pk: int
    submitted_at: datetime
    children: int
    records: str  # Records: "all", "some" or "none"
    listed_as_guardian: bool
    identity_method: str


@dataclass(frozen=True)
class Digest:
    waiting: int
    matching: int
    lines: list[DigestLine]

    @property
    def more(self) -> int:
        return max(self.waiting - len(self.lines), 0)


DIGEST_LINES = 50


def application_digest(school: School, *, lines: int = DIGEST_LINES) -> Digest:
    """The waiting applications in the queue's order, the first `lines` of them listed.

    The digest goes by e-mail, so it names nobody: when each was submitted, for how many
    children, what the records say and whether the parent proved their identity. The
    administrator reads the rest in the admin, after logging in."""
    waiting = waiting_applications(school)
    listed = (
        waiting.annotate(records=records_annotation(), children_count=Count("children"))
        .order_by("-listed_as_guardian", "-created_at", "-pk")
        .values(
            "pk", "created_at", "children_count", "records", "listed_as_guardian", "identity_method"
        )[:lines]
    )
    return Digest(
        waiting=_capped_count(waiting),
        matching=_capped_count(_confirmed_by_records(waiting)),
        lines=[
            DigestLine(
                pk=row["pk"],
                submitted_at=row["created_at"],
                children=row["children_count"],
                records=row["records"],
                listed_as_guardian=row["listed_as_guardian"],
                identity_method=row["identity_method"],
            )
            for row in listed
        ],
    )
