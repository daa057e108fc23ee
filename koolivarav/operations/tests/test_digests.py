"""Notices of new applications as each administrator prefers (issue 14 item 5): an e-mail about
each, a daily digest at their hour, or none; the digest sent by the worker once a day."""

import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import connections
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from koolivarav.accounts.models import User
from koolivarav.accounts.tests.factories import SchoolAdminFactory
from koolivarav.applications.models import Application
from koolivarav.applications.services import ApplicantData, submit_application
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.operations.digests import (
    DIGEST,
    DIGESTS_JOB,
    next_full_hour,
    schedule_digests,
    send_due_digests,
)
from koolivarav.operations.models import DailyJob
from koolivarav.operations.selectors import application_digest
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory

pytestmark = pytest.mark.django_db

Notices = User.ApplicationNotices


def _local(*args: int) -> datetime:
    return timezone.make_aware(datetime(*args))


def _apply(school, serial: int, *, listed: bool = False, children: int = 1) -> Application:
    parent = make_id_code(birth=date(1984, 5, 17), female=True, serial=serial)
    students = [
        StudentFactory(school=school, guardian_id_codes=[parent] if listed else [])
        for _ in range(children)
    ]
    data = ApplicantData(
        parent_id_code=parent,
        first_name="Mari",
        last_name="Maasikas",
        email=f"mari{serial}@example.ee",
        phone=f"+3725551{serial:04d}",
        child_id_codes=tuple(s.id_code for s in students),
    )
    return submit_application(school=school, data=data, language="et")


def _notices_to(address: str) -> int:
    return Email.objects.filter(to_address=address, kind="applications.new_application").count()


# --- the notice about each application ----------------------------------------------------------


@pytest.mark.parametrize(
    ("preference", "notices"), [(Notices.EACH, 1), (Notices.DIGEST, 0), (Notices.NONE, 0)]
)
def test_each_administrator_hears_of_a_new_application_as_they_chose(school, preference, notices):
    admin = SchoolAdminFactory(school=school, application_notices=preference)
    _apply(school, 1)
    assert _notices_to(admin.email) == notices


def test_administrators_of_one_school_choose_each_for_themselves(school):
    each = SchoolAdminFactory(school=school, application_notices=Notices.EACH)
    digest = SchoolAdminFactory(school=school, application_notices=Notices.DIGEST)
    _apply(school, 1)
    assert (_notices_to(each.email), _notices_to(digest.email)) == (1, 0)


# --- the daily digest ------------------------------------------------------------------------


@pytest.fixture
def reader(school):
    """An administrator who chose the digest at 8 o'clock."""
    return SchoolAdminFactory(
        school=school, application_notices=Notices.DIGEST, digest_hour=8, language="en"
    )


def _digests() -> list[Email]:
    return list(Email.objects.filter(kind=DIGEST).order_by("pk"))


def test_the_digest_goes_at_the_chosen_hour_and_not_before(school, reader):
    _apply(school, 1)
    assert send_due_digests(now=_local(2031, 5, 6, 7, 59)) == 0
    assert send_due_digests(now=_local(2031, 5, 6, 8, 0)) == 1
    (digest,) = _digests()
    assert (digest.to_address, digest.language) == (reader.email, "en")


def test_the_digest_goes_once_a_day(school, reader):
    _apply(school, 1)
    assert send_due_digests(now=_local(2031, 5, 6, 8, 0)) == 1
    assert send_due_digests(now=_local(2031, 5, 6, 9, 0)) == 0  # the next hour's run
    assert send_due_digests(now=_local(2031, 5, 6, 23, 0)) == 0
    assert send_due_digests(now=_local(2031, 5, 7, 8, 0)) == 1  # the next morning
    assert len(_digests()) == 2


def test_a_worker_that_was_down_at_the_hour_sends_the_digest_later_that_day(school, reader):
    _apply(school, 1)
    assert send_due_digests(now=_local(2031, 5, 6, 13, 0)) == 1


def test_no_digest_on_a_day_when_nothing_waits_and_none_later_that_day(school, reader):
    assert send_due_digests(now=_local(2031, 5, 6, 8, 0)) == 0
    _apply(school, 1)  # an application in the afternoon waits for tomorrow's digest
    assert send_due_digests(now=_local(2031, 5, 6, 15, 0)) == 0
    assert send_due_digests(now=_local(2031, 5, 7, 8, 0)) == 1


def test_only_administrators_who_chose_the_digest_get_it(school, reader):
    SchoolAdminFactory(school=school, application_notices=Notices.EACH, digest_hour=8)
    SchoolAdminFactory(school=school, application_notices=Notices.NONE, digest_hour=8)
    SchoolAdminFactory(
        school=school, application_notices=Notices.DIGEST, digest_hour=8, is_active=False
    )
    _apply(school, 1)
    assert send_due_digests(now=_local(2031, 5, 6, 8, 0)) == 1
    assert [d.to_address for d in _digests()] == [reader.email]


def test_a_school_that_turned_notices_off_sends_no_digest(school, reader):
    school.notify_admins_of_new_applications = False
    school.save()
    _apply(school, 1)
    assert send_due_digests(now=_local(2031, 5, 6, 8, 0)) == 0


def test_the_digest_counts_the_waiting_and_those_the_records_confirm(school, reader):
    _apply(school, 1, listed=True, children=2)
    _apply(school, 2)
    _apply(school, 3, listed=True)
    decided = _apply(school, 4)
    Application.objects.filter(pk=decided.pk).update(status=Application.Status.REJECTED)
    digest = application_digest(school)
    assert (digest.waiting, digest.matching, len(digest.lines), digest.more) == (3, 2, 3, 0)
    assert sorted(line.records for line in digest.lines) == ["all", "all", "none"]
    assert sorted(line.children for line in digest.lines) == [1, 1, 2]


def test_the_digest_lists_at_most_so_many_and_says_how_many_more(school):
    for serial in range(4):
        _apply(school, serial)
    digest = application_digest(school, lines=3)
    assert (digest.waiting, len(digest.lines), digest.more) == (4, 3, 1)


def test_the_digest_names_nobody(school, reader, smtp_server):
    application = _apply(school, 1, listed=True)
    send_due_digests(now=_local(2031, 5, 6, 8, 0))
    deliver_due_emails()
    (message,) = smtp_server.messages
    text = message.get_body(("plain",)).get_content()
    assert "1 application waits for the school's decision." in text
    assert "The school's records confirm 1 of them" in text
    assert f"/admin/applications/application/{application.pk}/change/" in text
    assert "?status__exact=pending&records=all" in text
    for personal in ("Mari", "Maasikas", application.parent_id_code, application.email):
        assert personal not in message.as_string()
    assert "once a day at 08:00" in text


def test_the_digests_of_one_school_are_read_once_per_run(
    school, reader, django_assert_max_num_queries
):
    for _ in range(3):
        SchoolAdminFactory(school=school, application_notices=Notices.DIGEST, digest_hour=8)
    _apply(school, 1)
    with django_assert_max_num_queries(30):
        assert send_due_digests(now=_local(2031, 5, 6, 8, 0)) == 4


# --- on schedule, between the workers ---------------------------------------------------------


def test_the_digests_run_every_hour_on_the_hour(db):
    assert next_full_hour(_local(2031, 5, 6, 7, 59, 59)) == _local(2031, 5, 6, 8, 0)
    assert next_full_hour(_local(2031, 5, 6, 8, 0)) == _local(2031, 5, 6, 9, 0)
    assert next_full_hour(_local(2031, 5, 6, 23, 30)) == _local(2031, 5, 7, 0, 0)


def test_one_run_is_queued_for_the_next_hour_however_many_workers_ask(db):
    with time_machine.travel(_local(2031, 5, 6, 7, 20), tick=False):
        first = schedule_digests()
        second = schedule_digests()  # another worker: the next run is already queued
    assert (first, second) == (_local(2031, 5, 6, 8, 0), None)
    with time_machine.travel(first + timedelta(seconds=2), tick=False):  # that run
        assert schedule_digests() == _local(2031, 5, 6, 9, 0)
    assert DailyJob.objects.get(name=DIGESTS_JOB).next_run_at == _local(2031, 5, 6, 9, 0)


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
        # Not to a mail server: the digest is queued, and its sending is not under test here.
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    return env


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_real_workers_send_one_digest(school):
    SchoolAdminFactory(school=school, application_notices=Notices.DIGEST, digest_hour=0)
    _apply(school, 1)
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

    runs = DBTaskResult.objects.filter(task_path="koolivarav.operations.tasks.digests_task")
    finished = runs.filter(status="SUCCESSFUL")
    assert finished.count() == 2  # each worker ran one at its start ...
    assert sorted(r.return_value for r in finished) == [0, 1]  # ... and one sent the digest
    assert Email.objects.filter(kind=DIGEST).count() == 1
    assert runs.filter(status="READY").count() == 1  # one run queued for the next hour
    connections.close_all()
