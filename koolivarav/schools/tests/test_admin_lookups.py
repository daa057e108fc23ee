"""Only the filters an admin list declares reach the database from its query string.

Django's admin would filter any list by any lookup on a local field (`?password__startswith=`,
`?id_code__startswith=`), so a school's administrator could read a parent's password hash or a
masked ID code prefix by prefix. Every list of the site, ours and the libraries' alike, now
accepts exactly the parameters of its declared filters; anything else is a 400.
"""

import logging
from datetime import date
from uuid import uuid4

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from koolivarav.accounts.models import AuditEntry
from koolivarav.accounts.tests.factories import UserFactory, log_in_as_administrator
from koolivarav.applications.services import ApplicantData, submit_application
from koolivarav.notifications.services import queue_email
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory

# Lookups an attacker would try on every field: each would change the rows listed if it
# reached the database ("zzz" matches nothing; a number or date field refuses it).
LOOKUPS = [
    ("", "zzz"),
    ("__exact", "zzz"),
    ("__startswith", "zzz"),
    ("__gt", "zzz"),
    ("__lt", "0"),
    ("__regex", "^zzz"),
    ("__in", "zzz"),
    ("__isnull", "1"),
    ("__isnull", "0"),
]


def _rows_in_every_list(school, other_school, school_admin, operator):
    """At least one row in every admin list, for both schools, so a filter shows."""
    for n, each in enumerate((school, other_school)):
        StudentFactory(school=each, class_name="7.b")
        StudentFactory(school=each, class_name="8.a", is_active=False)
        parent = UserFactory(school=each, email=f"vanem{n}@example.ee")
        AuditEntry.objects.create(
            school=each, actor=parent, action=AuditEntry.Action.RESENT, target="x"
        )
        student = StudentFactory(school=each)
        submit_application(
            school=each,
            data=ApplicantData(
                parent_id_code=make_id_code(birth=date(1980, 3, 3), female=True, serial=n),
                first_name="Mari",
                last_name="Maasikas",
                email=f"taotleja{n}@example.ee",
                phone="+37255512345",
                child_id_codes=(student.id_code,),
            ),
            language="et",
        )
        queue_email(school=each, to=f"kiri{n}@example.ee", kind="test", template="x")
        queue_email(school=each, to=f"teine{n}@example.ee", kind="other", template="x")
    Group.objects.create(name="grupp")
    now = timezone.now()
    for locked in (True, False):
        common = {"user_agent": f"ua{locked}", "ip_address": "127.0.0.1", "username": "mari"}
        common |= {"http_accept": "*/*", "path_info": f"/{locked}"}
        AccessAttempt.objects.create(**common, get_data="", post_data="", failures_since_start=3)
        AccessLog.objects.create(**common, attempt_time=now)
        AccessFailureLog.objects.create(**common, locked_out=locked)
    for status in ("READY", "SUCCESSFUL"):
        DBTaskResult.objects.create(
            id=uuid4(),
            status=status,
            args_kwargs={},
            priority=0,
            task_path="x.y",
            queue_name="default",
            backend_name="default",
            run_after=now,
        )


def _undeclared_parameters(model):
    """Every lookup of every concrete field, and of the fields one relation away."""
    for field in model._meta.get_fields():
        if not field.concrete and not field.is_relation:
            continue
        names = {field.name}
        if getattr(field, "attname", None):
            names.add(field.attname)
        for name in names:
            for lookup, value in LOOKUPS:
                yield f"{name}{lookup}", value
        if isinstance(field, models.JSONField):
            yield f"{field.name}__0__startswith", "zzz"
        if field.is_relation and field.related_model is not None:
            for remote in field.related_model._meta.concrete_fields:
                yield f"{field.name}__{remote.name}__startswith", "zzz"
    yield "pk__gt", "0"
    yield "_changelist_filters", "zzz"


def _declared_parameters(changelist):
    declared = {p for spec in changelist.filter_specs for p in spec.expected_parameters()}
    if changelist.date_hierarchy:
        declared |= {f"{changelist.date_hierarchy}__{part}" for part in ("year", "month", "day")}
    return declared


def _listed(response):
    return [row.pk for row in response.context["cl"].result_list]


@pytest.fixture
def operator_client(operator, school):
    client = Client(HTTP_HOST="jpk.example.ee")
    log_in_as_administrator(client, operator)
    return client


@pytest.fixture
def _quiet_refusals():
    """Each refusal is logged with its traceback; thousands of them only slow the walk down."""
    logger = logging.getLogger("django.security.DisallowedModelAdminLookup")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


@pytest.mark.parametrize("who", ["school_admin", "operator"])
@pytest.mark.usefixtures("_quiet_refusals")
def test_no_list_of_the_admin_is_filtered_by_an_undeclared_lookup(
    who, school, other_school, school_admin, operator, admin_client_of_school, operator_client
):
    _rows_in_every_list(school, other_school, school_admin, operator)
    client = admin_client_of_school if who == "school_admin" else operator_client
    client.raise_request_exception = False  # a 500 is one more finding, not the end of the walk
    lists_walked, refused, leaks = 0, 0, []
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        baseline = client.get(url)
        if baseline.status_code != 200:
            continue  # not this person's list (403, or a redirect away)
        lists_walked += 1
        rows = _listed(baseline)
        assert rows, f"{url} lists nothing: a filter could not be seen to change it"
        declared = _declared_parameters(baseline.context["cl"])
        for parameter, value in _undeclared_parameters(model):
            if parameter in declared:
                continue
            response = client.get(url, {parameter: value})
            if response.status_code == 400:
                refused += 1
            elif response.status_code != 200 or _listed(response) != rows:
                leaks.append(f"{url}?{parameter}={value} -> {response.status_code}")
    assert leaks == []
    # Every list this person may open was walked, with many refused lookups on each.
    assert lists_walked == (5 if who == "school_admin" else 11)
    assert refused > 100 * lists_walked


def test_the_password_hash_cannot_be_read_from_the_user_list(admin_client_of_school, parent):
    url = reverse("admin:accounts_user_changelist")
    prefix = parent.password[:10]
    assert admin_client_of_school.get(url, {"password__startswith": prefix}).status_code == 400


def test_a_masked_id_code_cannot_be_guessed_digit_by_digit(admin_client_of_school, student):
    url = reverse("admin:schools_student_changelist")
    response = admin_client_of_school.get(url, {"id_code__startswith": student.id_code[:8]})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("url_name", "parameters"),
    [
        ("admin:schools_student_changelist", {"is_active__exact": "0"}),
        ("admin:schools_student_changelist", {"class_name": "7.b"}),
        ("admin:schools_student_changelist", {"class_name__isnull": "True"}),
        ("admin:accounts_user_changelist", {"role__exact": "parent", "is_active__exact": "1"}),
        ("admin:applications_application_changelist", {"status__exact": "pending"}),
        (
            "admin:applications_application_changelist",
            {
                "created_at__gte": "2020-01-01 00:00:00+02:00",
                "created_at__lt": "2999-01-01 00:00:00+02:00",
            },
        ),
        ("admin:notifications_email_changelist", {"kind": "test"}),
        ("admin:accounts_auditentry_changelist", {"action__exact": "resent"}),
    ],
)
def test_the_declared_filters_still_filter(admin_client_of_school, url_name, parameters, student):
    response = admin_client_of_school.get(reverse(url_name), parameters)
    assert response.status_code == 200
    assert "?e=1" not in response.get("Location", "")


def test_an_operator_filters_by_school_and_by_date(
    operator_client, school, other_school, school_admin, operator
):
    _rows_in_every_list(school, other_school, school_admin, operator)
    students = reverse("admin:schools_student_changelist")
    response = operator_client.get(students, {"school__id__exact": school.pk})
    assert response.status_code == 200
    assert {s.school_id for s in response.context["cl"].result_list} == {school.pk}
    log = reverse("admin:axes_accesslog_changelist")
    year = timezone.now().year
    assert operator_client.get(log, {"attempt_time__year": year}).status_code == 200
    attempts = reverse("admin:axes_accessattempt_changelist")
    assert operator_client.get(attempts, {"locked_out": "yes"}).status_code == 200
    assert operator_client.get(attempts, {"post_data__contains": "a"}).status_code == 400


def test_an_admin_registered_later_on_the_site_is_guarded_too(db):
    from koolivarav.schools.admin_lists import DeclaredLookupsOnly

    assert all(isinstance(a, DeclaredLookupsOnly) for a in admin.site._registry.values())
