"""What the admin looks like (issue 14 item 6): numbers of things as the language says them,
dates and times as Estonians write them, and the words of the libraries in Estonian too."""

from datetime import datetime

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import formats, timezone, translation

from koolivarav.accounts.models import AuditEntry
from koolivarav.accounts.services import record
from koolivarav.schools.counted import COUNTED, counted
from koolivarav.schools.models import Student

pytestmark = pytest.mark.django_db

MOMENT = timezone.make_aware(datetime(2026, 11, 29, 10, 9))


def test_every_model_in_the_admin_has_its_counted_forms():
    listed = {model._meta.label_lower for model in admin.site._registry}
    assert listed - set(COUNTED) == set()


@pytest.mark.parametrize(("count", "words"), [(1, "1 student"), (3, "3 students")])
def test_a_number_of_things_in_english(count, words):
    with translation.override("en"):
        assert counted(Student, count) == words


def test_a_model_without_counted_forms_is_counted_as_django_does():
    from django.contrib.sessions.models import Session

    with translation.override("en"):
        assert counted(Session, 2) == "2 sessions"


def test_the_lists_count_in_words_not_in_the_models_collective_name(
    admin_client_of_school, school, school_admin
):
    for _ in range(3):
        record(school=school, actor=school_admin, action=AuditEntry.Action.RESENT, target="x")
    admin_client_of_school.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = admin_client_of_school.get(reverse("admin:accounts_auditentry_changelist"))
    text = page.content.decode()
    assert "3 audit entries" in text
    assert "3 audit trail" not in text  # Django's own: the number and verbose_name_plural


@pytest.mark.parametrize(
    ("language", "written"),
    [("et", "29.11.2026 10:09"), ("ru", "29.11.2026 10:09"), ("en", "29 Nov 2026 10:09")],
)
def test_dates_and_times_as_each_language_writes_them(language, written):
    with translation.override(language):
        assert formats.localize(timezone.localtime(MOMENT)) == written


def test_the_admin_shows_estonian_dates_and_times(admin_client_of_school, school, school_admin):
    record(school=school, actor=school_admin, action=AuditEntry.Action.RESENT, target="x")
    AuditEntry.objects.update(at=MOMENT)
    page = admin_client_of_school.get(reverse("admin:accounts_auditentry_changelist"))
    text = page.content.decode()
    assert "29.11.2026 10:09" in text
    assert "e.l." not in text
