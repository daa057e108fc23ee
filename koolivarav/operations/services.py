"""Housekeeping: personal data and records kept no longer than the retention settings say.

`run_housekeeping` removes what is due and returns counts per kind; the worker runs it once a
day between all its processes (`run_housekeeping_if_due`, `schedule_housekeeping`), and
`manage.py housekeeping` runs it by hand or from a timer.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from importlib import import_module

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from koolivarav.applications.services import (
    purge_rejected_applications,
    purge_unconfirmed_applications,
)
from koolivarav.notifications.services import purge_old_emails
from koolivarav.schools.services import end_stalled_imports, purge_old_student_imports

from .models import DailyJob

logger = logging.getLogger(__name__)

HOUSEKEEPING = "housekeeping"


def _cutoff(days: int) -> datetime:
    return timezone.now() - timedelta(days=days)


def purge_login_records(*, older_than_days: int) -> dict[str, int]:
    """django-axes' records of logins, failed logins and lock-out counters: who tried, from
    which address. A lock-out lasts minutes, so a counter this old locks nobody out."""
    cutoff = _cutoff(older_than_days)
    removed = {}
    for kind, model in (
        ("access attempts", AccessAttempt),
        ("access logs", AccessLog),
        ("access failure logs", AccessFailureLog),
    ):
        deleted = model.objects.filter(attempt_time__lt=cutoff).delete()[1]
        removed[kind] = deleted.get(model._meta.label, 0)
    return removed


def purge_expired_sessions() -> int:
    """What `manage.py clearsessions` does, counted: sessions past their expiry date."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):  # cookie or cache sessions expire by themselves
        store.clear_expired()
        return 0
    model = store.get_model_class()
    return model.objects.filter(expire_date__lt=timezone.now()).delete()[0]


def purge_finished_task_results(*, older_than_days: int) -> int:
    """The worker's finished (successful or failed) task results; queued ones stay."""
    finished = DBTaskResult.objects.finished().filter(finished_at__lt=_cutoff(older_than_days))
    return finished.delete()[0]


def purge_expired_cache_entries() -> int:
    """Expired rows of every database cache. Django deletes them only when a write finds the
    table over its MAX_ENTRIES, which with room for 100,000 entries is almost never."""
    removed = 0
    seen: set[tuple[str, str]] = set()
    for alias in settings.CACHES:
        cache = caches[alias]
        if not isinstance(cache, DatabaseCache):
            continue
        database = router.db_for_write(cache.cache_model_class)
        table_name = cache.cache_model_class._meta.db_table
        if (database, table_name) in seen:
            continue
        seen.add((database, table_name))
        connection = connections[database]
        table = connection.ops.quote_name(table_name)
        expires = connection.ops.quote_name("expires")
        with transaction.atomic(using=database), connection.cursor() as cursor:
            cursor.execute(
                # Only the cache table's quoted name is formatted in, as Django's own
                # DatabaseCache does; the time is a parameter.
                f"DELETE FROM {table} WHERE {expires} < %s",  # noqa: S608  # nosec B608 - names of the cache table only
                [connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            removed += max(cursor.rowcount, 0)
    return removed


def run_housekeeping() -> dict[str, int]:
    """Remove everything that is older than the retention settings; returns counts per kind.

    Running it twice removes nothing the second time.
    """
    removed = {
        "rejected applications": purge_rejected_applications(),
        "unconfirmed applications": purge_unconfirmed_applications(),
        "e-mails wiped": purge_old_emails(older_than_days=settings.EMAIL_CONTENT_RETENTION_DAYS),
        **purge_login_records(older_than_days=settings.LOGIN_RECORD_RETENTION_DAYS),
        "expired sessions": purge_expired_sessions(),
        "finished task results": purge_finished_task_results(
            older_than_days=settings.TASK_RESULT_RETENTION_DAYS
        ),
        "expired cache entries": purge_expired_cache_entries(),
        "student list imports": purge_old_student_imports(),
        "stalled student list imports ended": end_stalled_imports(),
    }
    logger.info("Housekeeping removed %s", ", ".join(f"{kind}: {n}" for kind, n in removed.items()))
    return removed


def _job() -> None:
    DailyJob.objects.bulk_create([DailyJob(name=HOUSEKEEPING)], ignore_conflicts=True)


def run_housekeeping_if_due() -> dict[str, int] | None:
    """Run housekeeping unless it already ran today (local time), in this process or another;
    None when it had. Of several workers asking at once, exactly one runs it."""
    _job()
    now = timezone.now()
    # A conditional UPDATE: on any database, only one process moves the date to today.
    claimed = (
        DailyJob.objects.filter(name=HOUSEKEEPING)
        .filter(Q(last_run_on__isnull=True) | Q(last_run_on__lt=timezone.localdate(now)))
        .update(last_run_on=timezone.localdate(now), last_started_at=now)
    )
    if not claimed:
        return None
    removed = run_housekeeping()
    DailyJob.objects.filter(name=HOUSEKEEPING).update(
        last_finished_at=timezone.now(), last_report=removed
    )
    return removed


def next_housekeeping_time(now: datetime) -> datetime:
    """The next HOUSEKEEPING_HOUR o'clock, local time, after `now`."""
    day = timezone.localdate(now)
    at_hour = time(hour=settings.HOUSEKEEPING_HOUR)
    candidate = timezone.make_aware(datetime.combine(day, at_hour))
    if candidate <= now:
        candidate = timezone.make_aware(datetime.combine(day + timedelta(days=1), at_hour))
    return candidate


def schedule_housekeeping() -> datetime | None:
    """Queue housekeeping for the next night unless a run is queued for later already;
    returns when it will run, or None. The job's row is locked meanwhile, so of several
    workers one queues it, and each night's run queues the next one."""
    from .tasks import housekeeping_task

    _job()
    now = timezone.now()
    with transaction.atomic():
        job = DailyJob.objects.select_for_update().get(name=HOUSEKEEPING)
        if job.next_run_at is not None and job.next_run_at > now:
            return None
        job.next_run_at = next_housekeeping_time(now)
        job.save(update_fields=["next_run_at"])
        housekeeping_task.using(run_after=job.next_run_at).enqueue()
    return job.next_run_at
