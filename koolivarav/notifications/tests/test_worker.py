"""The real background worker: django-tasks' db_worker with the database backend.

Real transactions: the worker closes and reopens database connections as in production.
"""

import pytest
from django.core.management import call_command
from django.db import transaction

from koolivarav.notifications.models import Email
from koolivarav.notifications.services import queue_email


@pytest.mark.django_db(transaction=True)
def test_the_worker_sends_what_was_queued(
    school, smtp_server, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    with transaction.atomic():
        queue_email(
            school=school,
            to="vanem@example.ee",
            kind="test",
            template="applications/email/new_application",
            context={"review_url": "https://jpk.example.ee/admin/"},
        )
    call_command("run_worker", batch=True, verbosity=0)
    assert [m["To"] for m in smtp_server.messages] == ["vanem@example.ee"]
    assert Email.objects.get().status == Email.Status.SENT


@pytest.mark.django_db(transaction=True)
def test_the_worker_picks_up_emails_left_by_a_worker_that_died(school, smtp_server, settings):
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    # Written, but the wake-up task was lost with the worker that should have run it.
    Email.objects.create(
        school=school,
        to_address="vanem@example.ee",
        kind="test",
        template="applications/email/new_application",
        message_id=Email.new_message_id("ope.ee"),
    )
    call_command("run_worker", batch=True, verbosity=0)
    assert len(smtp_server.messages) == 1
