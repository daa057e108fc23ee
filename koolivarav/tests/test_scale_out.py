"""Scale-out: two app servers and two e-mail workers against one PostgreSQL and one shared
cache (Redis), as README's "Running several app servers" describes.

A person's requests go to either server, like behind a round-robin proxy: the session, the
rate limits and the lock-out must hold across them, and the two workers must send each
e-mail once.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from django.db import connection
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from koolivarav.accounts.tests.factories import PASSWORD, SchoolAdminFactory, UserFactory
from koolivarav.applications.models import Application
from koolivarav.applications.services import ApplicantData, submit_application
from koolivarav.notifications.models import Email
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory
from koolivarav.tests.figures import FIGURES
from koolivarav.tests.processes import Browser, give_production_password, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("scale-out is run against PostgreSQL (one SQLite file has one writer)")


@pytest.fixture
def servers(site, school):
    processes = site(
        LOGIN_FAILURE_LIMIT="4",
        APPLICATION_FORM_PER_ADDRESS_HOURLY="10",
        PASSWORD_RESETS_PER_ACCOUNT_HOURLY="3",
    )
    ports = [processes.start_server(), processes.start_server()]
    processes.start_worker()
    processes.start_worker()
    return ports


@pytest.fixture
def mari(school):
    child = StudentFactory(school=school, first_name="Kärt", last_name="Maasikas")
    user = UserFactory(school=school, email="mari@example.ee")
    user.children.add(child)
    give_production_password(user, PASSWORD)
    return user


def test_a_session_works_on_either_server(servers, mari):
    a, b = servers
    browser = Browser()
    browser.log_in(a, "mari@example.ee", PASSWORD)
    status, page, _headers = browser.get(b, "/")
    assert status == 200
    assert "Kärt Maasikas" in page  # logged in at A, recognised at B

    browser.get(b, reverse("accounts:profile"))
    status, _page, _headers = browser.post(
        b,
        reverse("accounts:profile"),
        {"phone": "+372 5551 2345", "address": "Aia 5, Jõgeva", "password1": "", "password2": ""},
    )
    assert status == 302
    mari.refresh_from_db()
    assert mari.phone == "+37255512345"

    assert browser.post(a, reverse("accounts:logout"), {})[0] == 302
    for port in servers:  # logged out at A: out at B too
        assert "Kärt Maasikas" not in browser.get(port, "/")[1]
    FIGURES["scale-out: sessions carried across servers"] += 1


def test_a_lock_out_holds_across_servers(servers, mari, school):
    a, b = servers
    browser = Browser()
    answers = []
    for attempt in range(4):  # the limit, spread over both servers
        port = servers[attempt % 2]
        browser.get(port, "/")
        answers.append(
            browser.post(port, "/", {"username": "mari@example.ee", "password": "vale"})[0]
        )
    assert answers == [200, 200, 200, 429]  # the 4th failure, wherever it lands, locks
    for port in (a, b):
        status, page, _headers = browser.post(
            port, "/", {"username": "mari@example.ee", "password": PASSWORD}
        )
        assert status == 429  # locked on both, even with the right password
        assert "15 minuti" in page
    other = UserFactory(school=school, email="teine@example.ee")
    give_production_password(other, PASSWORD)
    Browser().log_in(b, "teine@example.ee", PASSWORD)  # someone else is not locked out
    FIGURES["scale-out: lock-out checks"] += 2


def test_rate_limits_hold_across_servers(servers):
    start = reverse("applications:start")
    browser = Browser()
    browser.get(servers[0], start)
    with ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(
                lambda i: browser.post(servers[i % 2], start, {"first_name": f"X{i}"})[0],
                range(30),
            )
        )
    # 30 sends at once, half to each server, from one address: exactly the limit (10) get
    # through — the counter is one shared, atomic count, not one per server.
    assert Counter(answers) == {200: 10, 429: 20}
    FIGURES["scale-out: rate-limited requests sent at once"] += 30


def test_password_reset_limit_per_person_holds_across_servers(servers, mari):
    reset = reverse("accounts:password_reset")
    browser = Browser()
    browser.get(servers[0], reset)
    with ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(
                lambda i: browser.post(servers[i % 2], reset, {"email": "mari@example.ee"})[0],
                range(10),
            )
        )
    assert set(answers) == {302}  # the same answer every time ...
    # ... the workers look the person up and count the limit by account, a moment later.
    requests = DBTaskResult.objects.filter(task_path__endswith=".send_password_reset_task")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if requests.filter(status="SUCCESSFUL").count() == 10:
            break
        time.sleep(0.2)
    assert requests.filter(status="SUCCESSFUL").count() == 10
    assert Email.objects.filter(to_address="mari@example.ee").count() == 3  # ... 3 e-mails


def test_two_workers_send_each_email_once(servers, school, smtp_server):
    secretary = SchoolAdminFactory(school=school)
    applications = []
    for n in range(40):
        child = StudentFactory(school=school)
        applications.append(
            submit_application(
                school=school,
                data=ApplicantData(
                    parent_id_code=make_id_code(
                        birth=date(1980, 1, 1 + n % 28), female=n % 2 == 0, serial=n
                    ),
                    first_name="Mari",
                    last_name=f"Maasikas{chr(97 + n % 26)}",
                    email=f"vanem{n}@example.ee",
                    phone="+37255512345",
                    child_id_codes=(child.id_code,),
                ),
                language="et",
            )
        )
    queue = reverse("admin:applications_application_changelist")
    admin = Browser()
    admin.log_in_administrator(servers[0], secretary, PASSWORD)
    halves = [applications[:20], applications[20:]]
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda i: admin.post(
                    servers[i],
                    queue,
                    {"action": "approve_selected", "_selected_action": [a.pk for a in halves[i]]},
                )[0],
                range(2),
            )
        )
    assert answers == [302, 302]
    assert Application.objects.filter(status=Application.Status.APPROVED).count() == 40
    wait_until(lambda: len(smtp_server.messages) >= 40, 90, "40 e-mails in the sink")
    wait_until(lambda: not Email.objects.exclude(status=Email.Status.SENT).exists(), 30, "all sent")
    login_details = [m for m in smtp_server.messages if m["To"].startswith("vanem")]
    delivered = Counter(m["Message-ID"] for m in login_details)
    assert len(delivered) == 40
    assert max(delivered.values()) == 1  # each once, though two workers were at it

    # A password from the e-mails logs in, at the other server than the one that approved.
    body = login_details[0].get_body(("plain",)).get_content()
    password = re.search(r"Ajutine salasõna on: ([0-9a-f]{8})", body).group(1)
    Browser().log_in(servers[1], login_details[0]["To"], password)
    FIGURES["scale-out: e-mails sent by two workers"] += len(login_details)
    FIGURES["scale-out: e-mails sent twice"] += sum(delivered.values()) - len(delivered)
