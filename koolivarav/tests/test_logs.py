"""No ID code, password or reset link ever reaches a log line, over a whole journey."""

import io
import json
import logging
import re
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse
from log_request_id.filters import RequestIDFilter

from koolivarav.accounts.tests.factories import log_in_as_administrator
from koolivarav.accounts.tests.worker import run_queued_tasks
from koolivarav.applications.models import Application
from koolivarav.identity.tests.conftest import tara  # noqa: F401 - the stand-in TARA fixture
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.operations.logging import JsonFormatter, PlainFormatter
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory


def test_a_whole_journey_logs_no_id_code_or_secret(
    school, school_admin, smtp_server, caplog, settings
):
    caplog.set_level(logging.DEBUG)
    secrets_seen = _a_whole_journey(school, school_admin, smtp_server)

    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {getattr(record, 'request', '')!r}"
        for record in caplog.records
        if not record.name.startswith("mail.log")  # the test's own SMTP server, not the product
    )
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert any(s.startswith("/password-reset/") for s in secrets_seen), "no reset link was sent"
    for secret in secrets_seen:
        assert secret not in logged


@pytest.mark.parametrize("formatter", [PlainFormatter, JsonFormatter])
def test_a_whole_journey_writes_lines_with_request_ids_and_no_personal_data(
    school, school_admin, smtp_server, settings, formatter
):
    """The same journey, read as the console handler writes it in either format (LOG_FORMAT):
    with a line for each request (LOG_REQUESTS) and the tracebacks of the failures."""
    settings.LOG_REQUESTS = True
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.addFilter(RequestIDFilter())
    handler.addFilter(lambda record: not record.name.startswith("mail.log"))  # the test's SMTP
    handler.setFormatter(formatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        secrets_seen = _a_whole_journey(school, school_admin, smtp_server)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    written = output.getvalue()
    for secret in [*secrets_seen, "mari@example.ee", "vale-salasõna", "Maasikas"]:
        assert secret not in written
    if formatter is JsonFormatter:
        lines = [json.loads(line) for line in written.splitlines()]
        requests = [line for line in lines if line["logger"] == "log_request_id.middleware"]
        worker = [line for line in lines if line["logger"] == "koolivarav.notifications.services"]
        assert len(requests) >= 7
        assert all(line["request_id"] != "-" for line in requests)
        assert len({line["request_id"] for line in requests}) == len(requests)
        assert worker, "the worker logged nothing: the test would prove nothing about it"
        assert all(line["request_id"] == "-" and line["email_id"] for line in worker)
    else:
        assert re.search(r"INFO log_request_id.middleware \[[a-z2-7-]{19}\] method=POST", written)


def _a_whole_journey(school, school_admin, smtp_server) -> list[str]:
    """A parent applies (once with a mistyped code), is approved, gets the e-mail (after a
    refusal), mistypes the password and asks for a reset. Returns the secrets the journey
    handled: the ID codes, the temporary password and the reset link."""
    children = [StudentFactory(school=school), StudentFactory(school=school)]
    parent_code = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)
    secrets_seen = [parent_code, *(c.id_code for c in children)]

    parent = Client(HTTP_HOST="jpk.example.ee")
    parent.post(
        reverse("applications:start"),
        {
            "child_id_codes": f"{children[0].id_code} 39001010008",  # one mistyped: an error page
            "parent_id_code": parent_code,
            "first_name": "Mari",
            "last_name": "Maasikas",
            "email": "mari@example.ee",
            "phone": "5551 2345",
        },
    )
    parent.post(
        reverse("applications:start"),
        {
            "child_id_codes": " ".join(c.id_code for c in children),
            "parent_id_code": parent_code,
            "first_name": "Mari",
            "last_name": "Maasikas",
            "email": "mari@example.ee",
            "phone": "5551 2345",
        },
    )
    parent.post(reverse("applications:confirm"), {"email_again": "mari@example.ee"})
    deliver_due_emails()  # the receipt, with the link that confirms the address
    [link] = re.findall(r"https://jpk\.example\.ee(/apply/status/\S+)", _plain(smtp_server))
    assert not re.search(r"\d{11}", link)  # no ID code in the link
    secrets_seen.append(link.partition("?t=")[2])
    parent.get(link)
    parent.post(reverse("applications:status"), {"t": link.partition("?t=")[2]})
    admin = Client(HTTP_HOST="jpk.example.ee")
    log_in_as_administrator(admin, school_admin)
    application = Application.objects.get()
    admin.get(reverse("admin:applications_application_change", args=[application.pk]))
    admin.post(reverse("admin:applications_application_approve", args=[application.pk]))
    smtp_server.handler.refusals = ["451 try later"]  # one failed attempt is logged too
    deliver_due_emails()
    deliver_due_emails()
    Client(HTTP_HOST="jpk.example.ee").post(
        "/", {"username": "Mari Maasikas", "password": "vale-salasõna"}
    )
    Client(HTTP_HOST="jpk.example.ee").post(
        reverse("accounts:password_reset"), {"email": "mari@example.ee"}
    )
    run_queued_tasks()  # the worker looks the person up and sends the link
    for message in smtp_server.messages:
        body = message.get_body(("plain",)).get_content()
        secrets_seen += re.findall(r"Ajutine salasõna on: ([0-9a-f]{8})", body)
        secrets_seen += re.findall(r"/password-reset/\S+", body)
    return secrets_seen


def _plain(smtp_server) -> str:
    return "\n".join(m.get_body(("plain",)).get_content() for m in smtp_server.messages)


def _addresses_in(response) -> list[str]:
    """Every address a response sends the browser to or offers it (each would be logged)."""
    addresses = [response.get("Location", "")]
    if "html" in response.get("Content-Type", ""):
        addresses += re.findall(r'(?:href|action|src)="([^"]*)"', response.content.decode())
    return addresses


def test_the_admins_searches_log_no_id_code_and_put_none_in_an_address(
    school, school_admin, caplog
):
    caplog.set_level(logging.DEBUG)
    student = StudentFactory(school=school)
    code = student.id_code
    admin = Client(HTTP_HOST="jpk.example.ee")
    log_in_as_administrator(admin, school_admin)
    students = reverse("admin:schools_student_changelist")
    find = reverse("admin:schools_student_find_by_id_code")
    users = reverse("admin:accounts_user_changelist")
    applications = reverse("admin:applications_application_changelist")
    responses = [
        admin.get(students, {"q": code}, follow=True),  # typed into the ordinary search box
        admin.get(students, {"q": f"Mari {code[:6]} {code[6:]}"}, follow=True),
        admin.post(find, {"id_code": code}, follow=True),  # the find box: found
        admin.post(find, {"id_code": make_id_code(birth=date(2013, 2, 2), female=False, serial=9)}),
        admin.post(find, {"id_code": code[:-1] + "x"}, follow=True),  # mistyped
        admin.get(students, {"id_code": code}, follow=True),  # as a filter: never one
        admin.get(students, {"id_code__startswith": code[:7]}),  # refused (400)
        admin.get(users, {"q": code}, follow=True),
        admin.get(applications, {"q": code}, follow=True),
    ]
    addresses = [a for r in responses for a in _addresses_in(r)]
    addresses += [url for r in responses for url, _status in getattr(r, "redirect_chain", [])]
    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {getattr(record, 'request', '')!r}"
        for record in caplog.records
    )
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert len(addresses) > 100
    assert code not in logged
    assert [a for a in addresses if code in a.replace("%20", "").replace("+", "")] == []


def test_the_verified_identity_journeys_log_no_id_code_or_secret(school, request, caplog, settings):
    """Through the stand-in TARA: a known guardian applies and the records approve them, a
    stranger is refused for a low level, an administrator enters the admin; no ID code, no
    client secret and no authorization code in any log line or any address."""
    from koolivarav.accounts.tests.factories import SchoolAdminFactory
    from koolivarav.identity.tests.conftest import (
        ADMIN_CODE,
        PARENT_CODE,
        SECRET,
        STRANGER_CODE,
        through_provider,
    )

    provider = request.getfixturevalue("tara")
    caplog.set_level(logging.DEBUG)
    settings.LOG_REQUESTS = True
    school.known_guardians = "approve"
    school.save()
    child = StudentFactory(school=school, guardian_id_codes=[PARENT_CODE])
    SchoolAdminFactory(school=school, id_code=ADMIN_CODE)
    addresses: list[str] = []

    parent = Client(HTTP_HOST="jpk.example.ee")
    addresses += _addresses_in(through_provider(parent, purpose="apply"))
    addresses += _addresses_in(parent.get(reverse("applications:start")))
    data = {"child_id_codes": child.id_code, "email": "mari@example.ee", "phone": "5551 2345"}
    addresses += _addresses_in(parent.post(reverse("applications:start"), data))
    addresses += _addresses_in(
        parent.post(reverse("applications:confirm"), {"email_again": "mari@example.ee"})
    )
    assert parent.session["_auth_user_id"]  # approved by the records, logged in
    addresses += _addresses_in(parent.get("/"))

    provider.auto_choice = (STRANGER_CODE, "mID")
    provider.claims_override = {"acr": "low"}
    stranger = Client(HTTP_HOST="jpk.example.ee")
    addresses += _addresses_in(through_provider(stranger))
    provider.claims_override = {}

    provider.auto_choice = (ADMIN_CODE, "idcard")
    admin = Client(HTTP_HOST="jpk.example.ee")
    addresses += _addresses_in(through_provider(admin, purpose="admin"))
    addresses += _addresses_in(admin.get("/admin/applications/application/"))

    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {getattr(record, 'request', '')!r}"
        for record in caplog.records
    )
    assert "ID token refused" in logged or "level" in logged  # the refusal was logged
    codes = [PARENT_CODE, STRANGER_CODE, ADMIN_CODE, child.id_code]
    for secret in [*codes, SECRET]:
        assert secret not in logged
        assert not any(secret in address for address in addresses)
