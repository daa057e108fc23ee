"""No ID code, password or reset link ever reaches a log line, over a whole journey."""

import logging
import re
from datetime import date

from django.test import Client
from django.urls import reverse

from koolivarav.accounts.tests.factories import log_in_as_administrator
from koolivarav.applications.models import Application
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory


def test_a_whole_journey_logs_no_id_code_or_secret(
    school, school_admin, smtp_server, caplog, settings
):
    caplog.set_level(logging.DEBUG)
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
    deliver_due_emails()
    for message in smtp_server.messages:
        body = message.get_body(("plain",)).get_content()
        secrets_seen += re.findall(r"Ajutine salasõna on: ([0-9a-f]{8})", body)
        secrets_seen += re.findall(r"/password-reset/\S+", body)

    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {getattr(record, 'request', '')!r}"
        for record in caplog.records
        if not record.name.startswith("mail.log")  # the test's own SMTP server, not the product
    )
    assert caplog.records, "nothing was logged: the test would prove nothing"
    for secret in secrets_seen:
        assert secret not in logged
