"""Sessions read with their user in one query (accounts.sessions): every change that ends or
alters a login still counts on the very next request."""

import pytest
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from koolivarav.accounts.models import User
from koolivarav.accounts.services import reset_second_factor
from koolivarav.accounts.sessions import SessionStore
from koolivarav.accounts.tests.factories import PASSWORD, UserFactory
from koolivarav.conftest import host_of
from koolivarav.schools.tests.factories import StudentFactory

PROFILE = reverse("accounts:profile")
QUEUE = reverse("admin:applications_application_changelist")


@pytest.fixture
def mari(school):
    user = UserFactory(school=school, email="mari@example.ee", first_name="Mari")
    user.children.add(
        StudentFactory(school=school, first_name="Kärt", last_name="Maasikas"),
        StudentFactory(school=school, first_name="Aadu", last_name="Maasikas"),
    )
    return user


def _logged_in_client(school, username="mari@example.ee") -> Client:
    client = Client(HTTP_HOST=host_of(school))
    assert client.post("/", {"username": username, "password": PASSWORD}).status_code == 302
    return client


def _logged_in(client) -> bool:
    """Whether the next request is a logged-in one (the profile answers instead of
    redirecting to the login)."""
    return client.get(PROFILE).status_code == 200


def test_the_home_page_reads_the_session_user_and_children_in_one_query(school, mari):
    client = _logged_in_client(school)
    client.get("/")  # the school of the host, cached per process
    with CaptureQueriesContext(connection) as captured:
        page = client.get("/").content.decode()
    session_queries = [q["sql"] for q in captured if "django_session" in q["sql"]]
    assert len(session_queries) == 1
    assert "accounts_user" in session_queries[0]
    assert "schools_student" in session_queries[0]
    assert not [q for q in captured if q["sql"].startswith('SELECT "accounts_user"')]
    # The children, in the order children_of gives (last name, first name).
    assert page.index("Aadu") < page.index("Kärt")


def test_logging_out_ends_the_session_on_the_next_request(school, mari):
    client = _logged_in_client(school)
    cookie = client.cookies["sessionid"].value
    assert client.post(reverse("accounts:logout")).status_code == 302
    replay = Client(HTTP_HOST=host_of(school))
    replay.cookies["sessionid"] = cookie  # the old cookie, kept by someone
    assert not _logged_in(replay)


def test_a_deactivated_account_is_logged_out_on_the_next_request(school, mari):
    client = _logged_in_client(school)
    assert _logged_in(client)
    User.objects.filter(pk=mari.pk).update(is_active=False)  # no signal, no save()
    assert not _logged_in(client)
    assert "Kärt" not in client.get("/").content.decode()


def test_a_new_password_ends_the_other_sessions_on_their_next_request(school, mari):
    here, elsewhere = _logged_in_client(school), _logged_in_client(school)
    here.post(
        PROFILE,
        {
            "current_password": PASSWORD,
            "password1": "Uus-pikk-salasõna",
            "password2": "Uus-pikk-salasõna",
        },
    )
    assert _logged_in(here)
    assert not _logged_in(elsewhere)


def test_a_password_set_elsewhere_ends_every_session(school, mari):
    client = _logged_in_client(school)
    mari.set_password("Keegi-teine-pani-selle")
    User.objects.filter(pk=mari.pk).update(password=mari.password)
    assert not _logged_in(client)


def test_a_new_school_counts_on_the_next_request(school, other_school, mari):
    client = _logged_in_client(school)
    assert "Kärt" in client.get("/").content.decode()
    User.objects.filter(pk=mari.pk).update(school=other_school)
    page = client.get("/").content.decode()
    assert "Kärt" not in page  # her children at the first school are no longer hers to see


def test_a_reset_second_factor_counts_on_the_next_request(
    admin_client_of_school, school_admin, operator
):
    assert admin_client_of_school.get(QUEUE).status_code == 200
    reset_second_factor(user=school_admin, actor=operator)
    assert not TOTPDevice.objects.filter(user=school_admin).exists()
    assert admin_client_of_school.get(QUEUE).status_code == 302


def test_a_session_without_the_user_column_still_logs_in(school, mari):
    """Sessions written by Django's own store (or before this one) have no user in the
    column: the ordinary path reads the user."""
    client = Client(HTTP_HOST=host_of(school))
    client.force_login(mari)
    store = DjangoSessionStore(client.cookies["sessionid"].value)
    store["touched"] = True
    store.save()  # Django's store leaves the column as it was ...
    with connection.cursor() as cursor:
        cursor.execute("UPDATE django_session SET user_id = NULL")  # ... and here, empty
    assert _logged_in(client)
    assert "Kärt" in client.get("/").content.decode()


def test_the_user_column_cannot_log_anyone_else_in(school, mari):
    """The column only says whom to read along; the signed session data decides who is
    logged in (and Django checks it against that user's password hash)."""
    client = _logged_in_client(school)
    other = UserFactory(school=school, first_name="Võõras", last_name="Inimene")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE django_session SET user_id = %s", [other.pk])
    page = client.get("/").content.decode()
    assert "Mari" in page
    assert "Võõras" not in page


def test_an_expired_session_logs_nobody_in(school, mari):
    client = _logged_in_client(school)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE django_session SET expire_date = '2000-01-01'")
    assert not _logged_in(client)


@pytest.mark.django_db(transaction=True)
def test_a_login_writes_in_one_transaction_and_the_session_once(school, mari):
    """The new session's row, last_login and django-axes' records commit together, and the
    session is inserted once (not inserted empty, then updated at the end of the request)."""
    client = Client(HTTP_HOST=host_of(school))
    client.get("/")
    writes: list[tuple[str, bool]] = []

    def record(execute, sql, params, many, context):
        if not sql.lstrip().upper().startswith(("SELECT", "SAVEPOINT", "RELEASE", "BEGIN")):
            writes.append((sql, connection.in_atomic_block))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response = client.post("/", {"username": "mari@example.ee", "password": PASSWORD})
    assert response.status_code == 302
    session_writes = [sql.split()[0].upper() for sql, _atomic in writes if "django_session" in sql]
    assert session_writes == ["INSERT"]
    assert any("last_login" in sql for sql, _atomic in writes)
    assert any("axes_accesslog" in sql for sql, _atomic in writes)
    assert [sql for sql, atomic in writes if not atomic] == []
    assert _logged_in(client)


def test_saving_again_without_a_change_writes_nothing(school, mari):
    store = SessionStore()
    store["a"] = 1
    store.save()
    with CaptureQueriesContext(connection) as captured:
        store.save()
    assert len(captured) == 0
    store["a"] = 2
    with CaptureQueriesContext(connection) as captured:
        store.save()
    assert len(captured) == 1
    assert SessionStore(store.session_key).load() == {"a": 2}


def test_without_a_session_cookie_the_middlewares_do_not_read_the_session(school, mari):
    """A first visit brings no session cookie: nobody can be logged in, and the middlewares
    that ask leave the lazy user unread; a view that logs someone in replaces it, and the
    answer is then kept by no browser or proxy."""
    from django.contrib.auth import login
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.utils.functional import empty

    from koolivarav.accounts.middleware import (
        AuthenticationMiddleware,
        PasswordChangeRequiredMiddleware,
        PrivatePagesMiddleware,
    )
    from koolivarav.accounts.sessions import SessionStore

    def stack(view):
        inner = PrivatePagesMiddleware(PasswordChangeRequiredMiddleware(view))
        return AuthenticationMiddleware(inner)

    def request():
        made = RequestFactory().get("/apply/")
        made.session = SessionStore()
        return made

    def looks(made):
        return HttpResponse("a public page")

    def logs_in(made):
        login(made, mari, backend="koolivarav.accounts.backends.SchoolUserBackend")
        return HttpResponse("logged in")

    first = request()
    response = stack(looks)(first)
    assert first.user._wrapped is empty  # never read
    assert "no-store" not in response.get("Cache-Control", "")
    second = request()
    response = stack(logs_in)(second)
    assert "no-store" in response["Cache-Control"]
