"""The daily digest of waiting applications, for each administrator who chose it.

An administrator chooses how to hear of new applications (accounts.User.application_notices):
an e-mail about each (applications sends it as one arrives), one e-mail a day at an hour of
their choosing, or none. The workers run `send_due_digests` every hour on the hour, between
them (`schedule_digests`, the housekeeping's DailyJob row); each administrator's digest goes
once a day, whichever worker moves their `digest_sent_on` to today first.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from koolivarav.accounts.models import User
from koolivarav.notifications.services import queue_email
from koolivarav.schools.models import School

from .models import DailyJob
from .selectors import Digest, application_digest

DIGEST = "accounts.application_digest"
DIGESTS_JOB = "application digests"


def digest_context(*, school: School, digest: Digest) -> dict[str, object]:
    """What the e-mail shows, as the outbox keeps it (JSON): times already local and written
    out, addresses already whole (the e-mail is read outside the admin)."""
    portal = school.portal_url.rstrip("/")
    queue = portal + reverse("admin:applications_application_changelist")
    return {
        "waiting": digest.waiting,
        "matching": digest.matching,
        "more": digest.more,
        "queue_url": f"{queue}?status__exact=pending",
        "matching_url": f"{queue}?status__exact=pending&records=all",
        "lines": [
            {
                "submitted": timezone.localtime(line.submitted_at).strftime("%d.%m.%Y %H:%M"),
                "children": line.children,
                "records": line.records,
                "confirmed": line.listed_as_guardian or line.records == "all",
                "identity_method": line.identity_method,
                "url": portal + reverse("admin:applications_application_change", args=[line.pk]),
            }
            for line in digest.lines
        ],
    }


def _not_sent_today(today: object) -> Q:
    return Q(digest_sent_on__isnull=True) | Q(digest_sent_on__lt=today)


def send_due_digests(*, now: datetime | None = None) -> int:
    """Queue today's digest to every administrator whose hour has come and who has not had
    it yet today; returns how many were queued.

    On a day when nothing waits, the day is taken and nothing is sent: a digest that says
    "nothing" every morning teaches people to ignore it. A worker that was down at the hour
    sends the day's digests when it runs again the same day."""
    local = timezone.localtime(now or timezone.now())
    today = local.date()
    due = (
        User.objects.filter(
            role=User.Role.SCHOOL_ADMIN,
            is_staff=True,
            is_active=True,
            application_notices=User.ApplicationNotices.DIGEST,
            digest_hour__lte=local.hour,
            school__notify_admins_of_new_applications=True,
        )
        .filter(_not_sent_today(today))
        .select_related("school")
        .order_by("school", "pk")
    )
    digests: dict[int, Digest] = {}
    queued = 0
    for admin in due:
        school = admin.school
        assert school is not None  # noqa: S101 - a school's administrator has a school
        with transaction.atomic():
            # A conditional UPDATE: of several workers at the same hour, one takes the day.
            taken = User.objects.filter(pk=admin.pk).filter(_not_sent_today(today))
            if not taken.update(digest_sent_on=today):
                continue
            digest = digests.get(school.pk) or digests.setdefault(
                school.pk, application_digest(school)
            )
            if not digest.waiting:
                continue
            queue_email(
                school=school,
                to=admin.email,
                kind=DIGEST,
                template="accounts/email/application_digest",
                context={**digest_context(school=school, digest=digest), "hour": admin.digest_hour},
                language=admin.language,
            )
            queued += 1
    return queued


def next_full_hour(now: datetime) -> datetime:
    return (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)


def schedule_digests() -> datetime | None:
    """Queue the next run of the digests for the next full hour unless one is queued for
    later already; returns when it will run, or None. As with housekeeping, the job's row is
    locked meanwhile: of several workers one queues it, and each run queues the next."""
    from .tasks import digests_task

    DailyJob.objects.bulk_create([DailyJob(name=DIGESTS_JOB)], ignore_conflicts=True)
    now = timezone.now()
    with transaction.atomic():
        job = DailyJob.objects.select_for_update().get(name=DIGESTS_JOB)
        if job.next_run_at is not None and job.next_run_at > now:
            return None
        job.next_run_at = next_full_hour(now)
        job.save(update_fields=["next_run_at"])
        digests_task.using(run_after=job.next_run_at).enqueue()
    return job.next_run_at


def run_digests() -> int:
    """One run: the digests that are due now; the run's time and count kept on the job."""
    started = timezone.now()
    queued = send_due_digests(now=started)
    DailyJob.objects.filter(name=DIGESTS_JOB).update(
        last_run_on=timezone.localdate(started),
        last_started_at=started,
        last_finished_at=timezone.now(),
        last_report={"digests queued": queued},
    )
    return queued
