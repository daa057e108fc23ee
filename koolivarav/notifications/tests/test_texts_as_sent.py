"""The e-mail list as a school's administrator reads it (issue 14 item 6): each kind in words,
and each e-mail's text as sent, with what was made at sending time (a temporary password, a
link that works) masked."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from koolivarav.accounts.services import send_login_details, send_password_reset
from koolivarav.notifications.kinds import KIND_NAMES, kind_name, kind_of_template
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import (
    MASK,
    deliver_due_emails,
    purge_old_emails,
    queue_email,
    text_of,
)
from koolivarav.tests.emails import email_templates

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:notifications_email_changelist")


@pytest.fixture(autouse=True)
def _english(admin_client_of_school):
    admin_client_of_school.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def _page(client, email: Email) -> str:
    url = reverse("admin:notifications_email_change", args=[email.pk])
    return client.get(url).content.decode()


def _password_in(message) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(r"Ajutine salasõna on: (\S+)", text).group(1)


def test_every_kind_of_email_the_product_sends_has_a_name():
    kinds = {kind_of_template(template) for template in email_templates()}
    assert kinds - set(KIND_NAMES) == set()


def test_the_list_says_each_kind_in_words(admin_client_of_school, school, parent):
    send_login_details(user=parent)
    page = admin_client_of_school.get(CHANGELIST).content.decode()
    assert '<td class="field-kind_in_words">login details</td>' in page
    assert ">accounts.login_details<" not in page


def test_the_list_filters_by_kind_in_words(admin_client_of_school, school, parent):
    send_login_details(user=parent)
    send_password_reset(user=parent)
    page = admin_client_of_school.get(CHANGELIST + "?kind=accounts.password_reset")
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert "password reset link</a>" in page.content.decode()  # the filter's choice, in words


def test_a_kind_nobody_named_is_shown_as_it_is():
    assert kind_name("tests.unnamed") == "tests.unnamed"


def test_sent_login_details_show_their_text_with_the_password_masked(
    admin_client_of_school, school, parent, smtp_server
):
    send_login_details(user=parent)
    deliver_due_emails()
    (message,) = smtp_server.messages
    password = _password_in(message)
    email = Email.objects.get()
    assert password not in email.text
    assert f"Ajutine salasõna on: {MASK}" in email.text
    sent = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert email.text.replace(MASK, password) == sent
    page = _page(admin_client_of_school, email)
    assert f"Ajutine salasõna on: {MASK}" in page
    assert password not in page
    assert "As it was sent" in page


def test_a_sent_reset_link_is_kept_masked(school, parent, smtp_server):
    send_password_reset(user=parent)
    deliver_due_emails()
    (message,) = smtp_server.messages
    text = message.get_body(("plain",)).get_content()
    (link,) = [line.strip() for line in text.splitlines() if line.strip().startswith("http")]
    email = Email.objects.get()
    assert link not in email.text
    assert MASK in email.text


def test_an_email_not_sent_shows_the_text_it_would_have_masked(
    admin_client_of_school, school, parent
):
    email = send_login_details(user=parent)  # queued, not sent
    text, as_sent = text_of(email)
    assert not as_sent
    assert f"Ajutine salasõna on: {MASK}" in text
    assert "Not sent" in _page(admin_client_of_school, email)
    assert Email.objects.get().text == ""  # nothing kept before it is sent


def test_an_email_without_secrets_is_kept_as_it_was_sent(school, smtp_server):
    queue_email(
        school=school,
        to="vanem@example.ee",
        kind="applications.rejected",
        template="applications/email/rejected",
        context={"first_name": "Mari", "reason": "Laps ei õpi meie koolis."},
    )
    deliver_due_emails()
    (message,) = smtp_server.messages
    sent = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert Email.objects.get().text == sent


def test_the_retention_purge_wipes_the_text_too(school, smtp_server):
    queue_email(
        school=school,
        to="vanem@example.ee",
        kind="applications.rejected",
        template="applications/email/rejected",
        context={"first_name": "Mari", "reason": "Laps ei õpi meie koolis."},
    )
    deliver_due_emails()
    Email.objects.update(created_at=timezone.now() - timedelta(days=100))
    assert purge_old_emails(older_than_days=90) == 1
    email = Email.objects.get()
    assert (email.text, email.to_address) == ("", "")
    assert text_of(email) == ("", False)


def test_the_list_fits_its_status_and_error_in_one_column(admin_client_of_school, school):
    email = queue_email(
        school=school,
        to="vanem@example.ee",
        kind="applications.rejected",
        template="applications/email/rejected",
        context={"first_name": "Mari", "reason": "x"},
    )
    Email.objects.filter(pk=email.pk).update(
        status=Email.Status.FAILED, attempts=5, last_error="SMTPRecipientsRefused: 550"
    )
    page = admin_client_of_school.get(CHANGELIST).content.decode()
    assert "failed after 5 attempts" in page
    assert "SMTPRecipientsRefused: 550" in page
    assert "vanem@<wbr>example.ee" in page  # a long address breaks after its @


def test_an_email_sent_before_texts_were_kept_says_so(admin_client_of_school, school, parent):
    email = send_login_details(user=parent)
    Email.objects.filter(pk=email.pk).update(status=Email.Status.SENT, sent_at=timezone.now())
    page = _page(admin_client_of_school, Email.objects.get())
    assert "Sent before its text was kept" in page
    assert f"Ajutine salasõna on: {MASK}" in page
