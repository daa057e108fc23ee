"""The admin's index opens with what waits for the school (issue 14 item 6): its name, the
applications waiting, how many of them the records confirm, and the e-mails that failed."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from koolivarav.accounts.models import User
from koolivarav.accounts.tests.factories import log_in_as_administrator
from koolivarav.applications.models import Application
from koolivarav.conftest import host_of
from koolivarav.notifications.models import Email
from koolivarav.operations.selectors import COUNT_CAP, school_figures
from koolivarav.operations.tests.test_digests import _apply

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")


def _failed_email(school, to: str = "vanem@example.ee") -> Email:
    return Email.objects.create(
        school=school,
        to_address=to,
        kind="applications.rejected",
        template="applications/email/rejected",
        status=Email.Status.FAILED,
        message_id=Email.new_message_id("jpk.example.ee"),
    )


def _summary(page: str) -> str:
    match = re.search(r'<section class="module school-today".*?</section>', page, re.S)
    assert match, "no summary on the index"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(0)).split())


@pytest.fixture
def english(admin_client_of_school) -> Client:
    admin_client_of_school.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return admin_client_of_school


def test_the_index_names_the_school_and_what_waits(english, school, other_school):
    _apply(school, 1, listed=True)
    _apply(school, 2, listed=True, children=2)
    _apply(school, 3)
    decided = _apply(school, 4, listed=True)
    Application.objects.filter(pk=decided.pk).update(status=Application.Status.APPROVED)
    _apply(other_school, 5, listed=True)  # another school's: not counted
    _failed_email(school)
    _failed_email(other_school)
    summary = _summary(english.get(INDEX).content.decode())
    assert school.name in summary
    assert "3 applications wait for a decision" in summary
    assert "the school's records confirm 2 of them" in summary
    assert "1 e-mail failed" in summary


def test_the_figures_link_to_the_lists_they_count(english, school):
    _apply(school, 1, listed=True)
    _failed_email(school)
    page = english.get(INDEX).content.decode()
    queue = reverse("admin:applications_application_changelist")
    assert f'href="{queue}?status__exact=pending"' in page
    assert f'href="{queue}?status__exact=pending&amp;records=all"' in page
    emails = reverse("admin:notifications_email_changelist")
    assert f'href="{emails}?status__exact=failed"' in page


def test_nothing_failed_is_said_in_words(english, school):
    assert "No e-mail has failed." in _summary(english.get(INDEX).content.decode())


def test_the_index_says_how_the_administrator_hears_of_applications(english, school_admin):
    User.objects.filter(pk=school_admin.pk).update(
        application_notices=User.ApplicationNotices.DIGEST, digest_hour=7
    )
    summary = _summary(english.get(INDEX).content.decode())
    assert "one e-mail a day listing the waiting applications, 07:00" in summary


def test_an_application_held_back_or_waiting_for_the_parent_is_not_waiting_for_the_school(
    school,
):
    held = _apply(school, 1)
    Application.objects.filter(pk=held.pk).update(held_until_confirmed=True)
    asked = _apply(school, 2)
    Application.objects.filter(pk=asked.pk).update(question_state=Application.QuestionState.ASKED)
    _apply(school, 3)
    assert school_figures(school).waiting == 1


def test_the_figures_cost_the_same_queries_however_many_wait(english, school):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert english.get(INDEX).status_code == 200
        return len(captured.captured_queries)

    _apply(school, 1, listed=True)
    queries()  # the first request of a session reads a little more
    few = queries()
    for serial in range(2, 12):
        _apply(school, serial, listed=serial % 2 == 0)
        _failed_email(school, to=f"vanem{serial}@example.ee")
    assert queries() == few


def test_counts_stop_at_the_cap(english, school, monkeypatch):
    monkeypatch.setattr("koolivarav.operations.selectors.COUNT_CAP", 2)
    for serial in range(4):
        _apply(school, serial)
    figures = school_figures(school)
    assert figures.waiting == 3  # the cap and one more: "more than the cap"
    assert COUNT_CAP == 10_000


def test_an_operator_sees_the_figures_of_the_portals_school(school, operator):
    _apply(school, 1)
    client = log_in_as_administrator(Client(HTTP_HOST=host_of(school)), operator)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert "1 application waits for a decision" in _summary(client.get(INDEX).content.decode())


def test_the_figures_links_open_their_lists_filtered(english, school):
    _apply(school, 1, listed=True)
    _apply(school, 2)
    queue = reverse("admin:applications_application_changelist")
    matching = english.get(f"{queue}?status__exact=pending&records=all")
    assert (matching.status_code, matching.context["cl"].result_count) == (200, 1)
    waiting = english.get(f"{queue}?status__exact=pending")
    assert (waiting.status_code, waiting.context["cl"].result_count) == (200, 2)
    failed = english.get(reverse("admin:notifications_email_changelist") + "?status__exact=failed")
    assert failed.status_code == 200
