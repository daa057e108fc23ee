"""Housekeeping: what is older than the retention settings goes, nothing newer is touched,
and however many workers there are, it runs once a day."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from koolivarav.applications.models import Application
from koolivarav.applications.services import (
    ApplicantData,
    reject_application,
    submit_application,
)
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.operations.models import DailyJob
from koolivarav.operations.services import (
    HOUSEKEEPING,
    run_housekeeping,
    run_housekeeping_if_due,
    schedule_housekeeping,
)
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory

DAY = timedelta(days=1)
DB_CACHE = "housekeeping-test"


@pytest.fixture
def database_cache(db, settings):
    """A database cache beside the test settings' memory cache, as production has."""
    settings.CACHES = {
        **settings.CACHES,
        DB_CACHE: {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "koolivarav_housekeeping_test_cache",
        },
    }
    call_command("createcachetable", verbosity=0)
    return caches[DB_CACHE]


def _rejected_application(school, admin, n: int) -> Application:
    data = ApplicantData(
        parent_id_code=make_id_code(birth=date(1980, 3, 1 + n), female=True, serial=n),
        first_name="Mari",
        last_name=f"Vanem{n}",
        email=f"vanem{n}@example.ee",
        phone="+37255512345",
        child_id_codes=(StudentFactory(school=school).id_code,),
    )
    application = submit_application(school=school, data=data, language="et")
    reject_application(application_id=application.pk, decided_by=admin, reason="Ei klapi.")
    deliver_due_emails()
    return application


def _login_records(tag: str) -> dict[str, object]:
    common = {
        "username": f"vanem-{tag}@example.ee",
        "ip_address": "203.0.113.7",
        "user_agent": "test",
        "http_accept": "*/*",
        "path_info": "/",
    }
    return {
        "access_logs": AccessLog.objects.create(**common),
        "access_failure_logs": AccessFailureLog.objects.create(**common, locked_out=False),
        "access_attempts": AccessAttempt.objects.create(
            **common, get_data="", post_data="", failures_since_start=1
        ),
    }


def _finished_task_result(tag: str) -> DBTaskResult:
    return DBTaskResult.objects.create(
        status="SUCCESSFUL",
        task_path=f"koolivarav.tests.{tag}",
        args_kwargs={"args": [], "kwargs": {}},
        backend_name="default",
        run_after=timezone.now(),
        started_at=timezone.now(),
        finished_at=timezone.now(),
        return_value=0,
    )


def _session() -> str:
    store = SessionStore()
    store["tag"] = "x"
    store.create()
    return store.session_key


class Scenario:
    """Rows of every kind, some older than the retention settings and some newer, made while
    time moves forward; then the clock stands at `now`, 91 days after the first rows."""

    def __init__(self, school, admin, cache) -> None:
        self.start = timezone.now()
        with time_machine.travel(self.start, tick=False):
            self.old_application = _rejected_application(school, admin, 1)
            self.old_logins = _login_records("old")
            self.old_task = _finished_task_result("old")
            # A task queued long ago that has not run yet is not a finished result.
            self.waiting_task = DBTaskResult.objects.create(
                task_path="koolivarav.tests.waiting",
                args_kwargs={"args": [], "kwargs": {}},
                backend_name="default",
                run_after=self.start + 365 * DAY,
            )
            self.old_session = _session()
            cache.set("old", "x", timeout=24 * 3600)
        with time_machine.travel(self.start + 80 * DAY, tick=False):
            self.new_task = _finished_task_result("new")  # 11 days old at `now`: kept (14)
        with time_machine.travel(self.start + 85 * DAY, tick=False):
            self.new_application = _rejected_application(school, admin, 2)  # 6 days: kept (90)
            self.new_logins = _login_records("new")
        self.now = self.start + 91 * DAY
        with time_machine.travel(self.now - timedelta(hours=1), tick=False):
            self.new_session = _session()
            cache.set("new", "x", timeout=24 * 3600)


@pytest.fixture
def scenario(school, school_admin, database_cache) -> Scenario:
    return Scenario(school, school_admin, database_cache)


def _email_addresses() -> set[str]:
    return set(Email.objects.exclude(to_address="").values_list("to_address", flat=True))


def test_housekeeping_removes_what_is_older_than_the_settings_and_nothing_newer(scenario):
    assert "vanem1@example.ee" in _email_addresses()
    with time_machine.travel(scenario.now, tick=False):
        removed = run_housekeeping()

    assert list(Application.objects.values_list("pk", flat=True)) == [scenario.new_application.pk]
    for kind, row in scenario.old_logins.items():
        assert not type(row).objects.filter(pk=row.pk).exists(), kind
    for kind, row in scenario.new_logins.items():
        assert type(row).objects.filter(pk=row.pk).exists(), kind
    assert set(DBTaskResult.objects.values_list("pk", flat=True)) == {
        scenario.new_task.pk,
        scenario.waiting_task.pk,
    }
    assert set(Session.objects.values_list("session_key", flat=True)) == {scenario.new_session}
    cutoff = scenario.now - 90 * DAY
    assert set(
        Email.objects.filter(created_at__lt=cutoff).values_list("to_address", flat=True)
    ) == {""}
    assert "" not in set(
        Email.objects.filter(created_at__gte=cutoff).values_list("to_address", flat=True)
    )
    assert "vanem2@example.ee" in _email_addresses()
    with time_machine.travel(scenario.now, tick=False):
        cache = caches[DB_CACHE]
        assert (cache.get("old"), cache.get("new")) == (None, "x")

    assert removed["rejected applications"] == 1
    assert removed["access logs"] == removed["access failure logs"] == 1
    assert removed["access attempts"] == 1
    assert removed["expired sessions"] == 1
    assert removed["finished task results"] == 1
    assert removed["expired cache entries"] == 1
    assert removed["e-mails wiped"] == 2  # to the parent (rejected), to the school (new)


def test_a_second_run_removes_nothing(scenario):
    with time_machine.travel(scenario.now, tick=False):
        run_housekeeping()
        again = run_housekeeping()
    assert set(again.values()) == {0}


def test_nothing_is_removed_a_day_before_it_is_due(scenario):
    # The newest "old" rows are 90 days minus a day old: the retention keeps them all.
    with time_machine.travel(scenario.start + 89 * DAY, tick=False):
        removed = run_housekeeping()
    assert removed["rejected applications"] == 0
    assert removed["access logs"] == 0
    assert removed["e-mails wiped"] == 0
    assert removed["finished task results"] == 1  # only the task result, after 14 days
    assert removed["expired sessions"] == 1  # and the session, after 8 hours
    assert removed["expired cache entries"] == 1  # and the cache entry, after a day


def test_the_retention_periods_are_settings(scenario, settings):
    settings.LOGIN_RECORD_RETENTION_DAYS = 5
    settings.TASK_RESULT_RETENTION_DAYS = 5
    settings.EMAIL_CONTENT_RETENTION_DAYS = 5
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "REJECTED_APPLICATION_RETENTION_DAYS": 5}
    with time_machine.travel(scenario.now, tick=False):
        removed = run_housekeeping()
    assert Application.objects.count() == 0
    assert removed["access logs"] == removed["access attempts"] == 2
    assert removed["finished task results"] == 2
    assert _email_addresses() == set()


def test_the_command_prints_what_it_removed(scenario):
    out = io.StringIO()
    with time_machine.travel(scenario.now, tick=False):
        call_command("housekeeping", stdout=out)
    text = out.getvalue()
    assert "rejected applications: 1" in text
    assert "access logs: 1" in text
    assert "expired sessions: 1" in text
    assert "finished task results: 1" in text
    assert "expired cache entries: 1" in text
    assert "vanem" not in text
    out = io.StringIO()
    with time_machine.travel(scenario.now, tick=False):
        call_command("housekeeping", stdout=out)
    assert "rejected applications: 0" in out.getvalue()


# --- once a day, however many workers ----------------------------------------------------------


@pytest.mark.django_db
def test_housekeeping_runs_once_a_day():
    morning = timezone.make_aware(datetime(2031, 5, 6, 3, 0))
    with time_machine.travel(morning, tick=False):
        assert run_housekeeping_if_due() is not None
        assert run_housekeeping_if_due() is None
    with time_machine.travel(morning + timedelta(hours=20), tick=False):  # 23:00, same day
        assert run_housekeeping_if_due() is None
    with time_machine.travel(morning + DAY, tick=False):
        assert run_housekeeping_if_due() is not None
    assert DailyJob.objects.get(name=HOUSEKEEPING).last_run_on == date(2031, 5, 7)


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_the_same_moment_run_it_once():
    results: list[object] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(run_housekeeping_if_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert sum(result is not None for result in results) == 1


@pytest.mark.django_db
def test_the_next_run_is_scheduled_once_for_the_next_night(settings):
    settings.HOUSEKEEPING_HOUR = 3
    afternoon = timezone.make_aware(datetime(2031, 5, 6, 14, 0))
    with time_machine.travel(afternoon, tick=False):
        first = schedule_housekeeping()
        second = schedule_housekeeping()  # another worker: the night's run is already queued
    assert first == timezone.make_aware(datetime(2031, 5, 7, 3, 0))
    assert second is None
    with time_machine.travel(first + timedelta(seconds=5), tick=False):  # that run, next night
        assert schedule_housekeeping() == timezone.make_aware(datetime(2031, 5, 8, 3, 0))


# --- the worker runs it by itself ----------------------------------------------------------------


def _worker_env() -> dict[str, str]:
    from koolivarav.tests.processes import SECRET_KEY, database_url

    own = ("DJANGO_", "DEBUG", "SECRET", "SECURE_", "CACHE_URL", "ALLOWED_HOSTS", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DEBUG="false",
        SECRET_KEY=SECRET_KEY,
        DATABASE_URL=database_url(),
        CACHE_URL="locmemcache://",
        LOG_LEVEL="WARNING",
    )
    return env


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_real_workers_run_housekeeping_once_and_leave_one_run_queued(school, school_admin):
    with time_machine.travel(timezone.now() - 100 * DAY):
        old = _rejected_application(school, school_admin, 1)
    manage = str(Path(settings.BASE_DIR) / "manage.py")
    workers = [
        subprocess.Popen(
            [sys.executable, manage, "run_worker", "--batch", "--interval", "0.1"],
            env=_worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=120)[0].decode() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    assert "Traceback" not in "".join(outputs), outputs

    assert not Application.objects.filter(pk=old.pk).exists()
    runs = DBTaskResult.objects.filter(task_path="koolivarav.operations.tasks.housekeeping_task")
    finished = runs.filter(status="SUCCESSFUL")
    assert finished.count() == 2  # each worker queued one at its start ...
    reports = [r.return_value for r in finished if r.return_value is not None]
    assert len(reports) == 1, reports  # ... and exactly one of them did the work
    assert reports[0]["rejected applications"] == 1
    waiting = runs.filter(status="READY")
    assert waiting.count() == 1  # one run queued for the next night, not one per worker
    assert waiting.get().run_after > timezone.now()
    json.dumps(reports[0])
    connections.close_all()
