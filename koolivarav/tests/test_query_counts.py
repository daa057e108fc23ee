"""Every list and detail page makes the same number of queries whatever the data size."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from koolivarav.accounts.services import record
from koolivarav.accounts.tests.factories import UserFactory
from koolivarav.applications.services import ApplicantData, submit_application
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory


def _queries(client, url) -> int:
    client.get(url)  # warm: per-process caches (the school of the host) are filled once
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def _grow(school, admin, parent, start, count):
    for n in range(start, start + count):
        student = StudentFactory(school=school)
        parent.children.add(student)
        code = make_id_code(
            birth=date(1970 + n % 30, 1 + n % 12, 1 + n % 28), female=True, serial=n
        )
        submit_application(
            school=school,
            data=ApplicantData(
                parent_id_code=code,
                first_name="Mari",
                last_name="Maasikas",
                email=f"v{n}@example.ee",
                phone="+37255512345",
                child_id_codes=(student.id_code,),
            ),
            language="et",
        )
        UserFactory(school=school)
        record(school=school, actor=admin, action="approved", target=f"x{n}")


ADMIN_LISTS = [
    "admin:applications_application_changelist",
    "admin:schools_student_changelist",
    "admin:accounts_user_changelist",
    "admin:accounts_auditentry_changelist",
    "admin:notifications_email_changelist",
]


@pytest.mark.parametrize("name", ADMIN_LISTS)
def test_admin_lists_make_a_constant_number_of_queries(
    admin_client_of_school, school, school_admin, parent, name
):
    url = reverse(name)
    _grow(school, school_admin, parent, 0, 3)
    small = _queries(admin_client_of_school, url)
    _grow(school, school_admin, parent, 3, 12)
    assert _queries(admin_client_of_school, url) == small


def test_the_application_detail_page_is_constant_in_the_number_of_children(
    admin_client_of_school, school, school_admin, parent
):
    def application_with(children, n):
        students = [StudentFactory(school=school) for _ in range(children)]
        code = make_id_code(birth=date(1975, 3, 3), female=False, serial=n)
        return submit_application(
            school=school,
            data=ApplicantData(
                code,
                "Jüri",
                "Tamm",
                f"j{n}@example.ee",
                "+37255512345",
                tuple(s.id_code for s in students),
            ),
            language="et",
        )

    one = application_with(1, 1)
    many = application_with(6, 2)
    url = "admin:applications_application_change"
    assert _queries(admin_client_of_school, reverse(url, args=[one.pk])) == _queries(
        admin_client_of_school, reverse(url, args=[many.pk])
    )


def test_the_parents_pages_are_constant_in_the_number_of_children(
    school_client, school, school_admin, parent
):
    school_client.force_login(parent)
    _grow(school, school_admin, parent, 0, 2)
    child = parent.children.first()
    pages = ["/", reverse("accounts:profile"), reverse("accounts:child", args=[child.pk])]
    small = [_queries(school_client, url) for url in pages]
    _grow(school, school_admin, parent, 2, 10)
    assert [_queries(school_client, url) for url in pages] == small


@pytest.mark.parametrize(
    "url", ["/", reverse("applications:start"), reverse("accounts:password_reset"), "/health/"]
)
def test_a_first_visit_writes_nothing_to_the_database(school_client, url):
    school_client.get("/health/")  # the school of the host, cached per process
    school_client.cookies.clear()
    with CaptureQueriesContext(connection) as captured:
        assert school_client.get(url).status_code == 200
    writes = [q["sql"] for q in captured if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []
    assert len(captured) == 0


# --- issue 14: the review's new columns and the review page --------------------------------------


def _review_mix(school, admin, start, count):
    """Applications of every kind the queue shows: records all / some / none, a question
    waiting and one answered, an e-mail that failed, decided in full and for some children."""
    from koolivarav.applications.services import (
        ChildrenDecision,
        answer_question,
        approve_application,
        ask_parent,
        reject_application,
    )
    from koolivarav.notifications.models import Email

    for n in range(start, start + count):
        code = make_id_code(
            birth=date(1960 + n % 30, 1 + n % 12, 1 + n % 28), female=False, serial=n
        )
        children = [
            StudentFactory(school=school, guardian_id_codes=[code] if k <= n % 3 else [])
            for k in range(2)
        ]
        application = submit_application(
            school=school,
            data=ApplicantData(
                code, "Jüri", "Tamm", f"r{n}@example.ee", "+37255512345",
                tuple(c.id_code for c in children),
            ),
            language="et",
        )  # fmt: skip
        kind = n % 6
        if kind in (1, 2):
            ask_parent(application_id=application.pk, asked_by=admin, question="Kas?")
        if kind == 2:
            answer_question(application_id=application.pk, answer="Jah.")
        if kind == 3:
            Email.objects.create(
                school=school, kind="applications.receipt", template="applications/email/receipt",
                to_address=application.email, message_id=f"<f{n}@example.ee>",
                status=Email.Status.FAILED,
            )  # fmt: skip
        if kind == 4:
            approve_application(
                application_id=application.pk,
                decided_by=admin,
                children=ChildrenDecision(
                    added=[children[0].pk], declined={children[1].pk: "Ei ole."}
                ),
            )
        if kind == 5:
            reject_application(application_id=application.pk, decided_by=admin, reason="Ei.")


def test_the_review_queue_is_constant_in_queries_with_its_new_columns(
    admin_client_of_school, school, school_admin
):
    url = reverse("admin:applications_application_changelist")
    _review_mix(school, school_admin, 0, 6)
    small = _queries(admin_client_of_school, url)
    _review_mix(school, school_admin, 6, 24)
    assert _queries(admin_client_of_school, url) == small
    for filtered in ("?records=all", "?records=some", "?question=asked", "?identity=typed"):
        assert _queries(admin_client_of_school, url + filtered) == small


def test_the_review_page_is_constant_in_queries_whatever_it_shows(
    admin_client_of_school, school, school_admin
):
    from koolivarav.applications.models import Application

    _review_mix(school, school_admin, 0, 6)
    pages = [
        reverse("admin:applications_application_change", args=[pk])
        for pk in Application.objects.order_by("pk").values_list("pk", flat=True)
    ]
    counts = {url: _queries(admin_client_of_school, url) for url in pages}
    _review_mix(school, school_admin, 6, 24)
    assert {url: _queries(admin_client_of_school, url) for url in pages} == counts


# --- the parent's pages and the login: how many queries, exactly -------------------------------
# The session, the user, the user's school and children come in one query (accounts.sessions);
# the home page adds the parent's applications (applications' own query).
PARENT_PAGES = {"/": 2, reverse("accounts:profile"): 1}


@pytest.mark.parametrize(("url", "count"), PARENT_PAGES.items())
def test_a_parents_page_makes_this_many_queries(school_client, school, parent, url, count):
    parent.id_code = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)
    parent.save()  # with an ID code, as every parent who applied: their applications are listed
    parent.children.add(StudentFactory(school=school), StudentFactory(school=school))
    school_client.force_login(parent)
    assert _queries(school_client, url) == count


def test_a_parents_home_with_pending_applications_is_constant_in_their_number(
    school_client, school, parent
):
    """The applications, their children counted in one more query and the questions and
    decisions prefetched: the same whether the parent sent one application or four."""
    parent.id_code = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)
    parent.save()
    school_client.force_login(parent)

    def apply(n):
        students = [StudentFactory(school=school) for _ in range(1 + n % 2)]
        submit_application(
            school=school,
            data=ApplicantData(
                parent_id_code=parent.id_code,
                first_name="Mari",
                last_name="Maasikas",
                email=f"mari{n}@example.ee",  # other contact data: an application of its own
                phone="+37255512345",
                child_id_codes=tuple(s.id_code for s in students),
            ),
            language="et",
        )

    apply(0)
    one = _queries(school_client, "/")
    for n in range(1, 4):
        apply(n)
    assert _queries(school_client, "/") == one == 5
    page = school_client.get("/").content.decode()
    assert page.count('class="box"') >= 4


def test_a_childs_page_makes_two_queries(school_client, school, parent):
    child = StudentFactory(school=school)
    parent.children.add(child, StudentFactory(school=school))
    school_client.force_login(parent)
    assert _queries(school_client, reverse("accounts:child", args=[child.pk])) == 2


def test_a_login_makes_this_many_queries(school_client, parent, password):
    """Reads: django-axes' failure count and the accounts the name means (once, for the
    lock-out key and the login alike). Then one transaction: axes looks for expired and for
    this person's failures to delete (none here), records the login; last_login; the new
    session, inserted once (Django's store inserts it empty, then updates it)."""
    school_client.get("/")
    with CaptureQueriesContext(connection) as captured:
        response = school_client.post("/", {"username": parent.email, "password": password})
    assert response.status_code == 302
    statements = [q["sql"].split()[0].upper() for q in captured]
    assert statements == [
        "SELECT",
        "SELECT",
        "SAVEPOINT",  # the test's own transaction holds the login's as a savepoint
        "SELECT",
        "INSERT",
        "SELECT",
        "UPDATE",
        "INSERT",
        "RELEASE",
    ]
    assert "django_session" in captured[-2]["sql"]
