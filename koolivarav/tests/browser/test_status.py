"""The receipt and the status page in a real browser with a real SMTP server: apply → the
receipt → its link → confirm → waiting → approved → the parent's home; a rejected one with
the school's contact; an expired link and a new one; a tampered link. Every page through axe
and the HTML checker, on a desktop and a phone, in English, Estonian and Russian."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from koolivarav.accounts.models import User
from koolivarav.accounts.tests.factories import SchoolAdminFactory
from koolivarav.applications.models import Application
from koolivarav.applications.services import (
    ApplicantData,
    approve_application,
    confirm_address,
    receive_application,
    reject_application,
    status_token,
)
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.schools.tests.factories import SchoolFactory, StudentFactory
from koolivarav.tests.browser.test_journey import _apply, _parent_code

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "mari.maasikas@example.ee"


@pytest.fixture
def school(live_server):
    return SchoolFactory(portal_url=live_server.url + "/", office_email="kantselei@jpk.example.ee")


@pytest.fixture
def children(school):
    return [
        StudentFactory(school=school, first_name="Kärt", last_name="Maasikas", class_name="3.b"),
        StudentFactory(school=school, first_name="Jüri", last_name="Maasikas", class_name="7.a"),
    ]


@pytest.fixture
def secretary(school):
    return SchoolAdminFactory(school=school, email="sekretar@jpk.example.ee")


def _receipt_link(smtp_server) -> str:
    deliver_due_emails()  # what the background worker does
    [receipt] = [m for m in smtp_server.messages if m["To"] == EMAIL]
    body = receipt.get_body(("plain",)).get_content()
    [link] = re.findall(r"(http://\S+/apply/status/\?t=\S+)", body)
    assert not re.search(r"\d{11}", link)
    return link


def _no_child_and_no_code(page, children):
    text = page.locator("main").inner_text()
    assert not re.search(r"\d{11}", text)
    for child in children:
        assert child.first_name not in text


def _switch(page, language):
    page.get_by_role("button", name=language).click()


def test_apply_the_receipt_and_the_status_page_through_each_state(
    page, check, live_server, school, children, secretary, smtp_server
):
    page.goto(live_server.url + "/")
    _switch(page, "English")
    _apply(page, check, live_server, children, email=EMAIL, lang="en")
    expect(page.get_by_text("m•••@example.ee")).to_be_visible()

    link = _receipt_link(smtp_server)
    page.goto(link)
    expect(page.get_by_text("is not confirmed yet")).to_be_visible()
    _no_child_and_no_code(page, children)
    check(page, "held")
    application = Application.objects.get()
    assert application.email_confirmed_at is None  # opening the link confirmed nothing
    assert application.is_held_back

    page.get_by_role("button", name="Yes, this is my e-mail address").click()
    expect(page.get_by_text("Thank you: your e-mail address is confirmed.")).to_be_visible()
    expect(page.get_by_text("Waiting for the school's decision since")).to_be_visible()
    check(page, "waiting")
    for language in ("Eesti", "Русский"):
        _switch(page, language)
        check(page, f"waiting-{language}")
    _switch(page, "English")

    approve_application(application_id=application.pk, decided_by=secretary)
    deliver_due_emails()
    page.reload()
    expect(
        page.get_by_text(re.compile(r"sent on \d\d\.\d\d\.\d{4} at \d\d:\d\d to m•••@"))
    ).to_be_visible()
    expect(page.get_by_role("link", name="Request the login details again »")).to_be_visible()
    _no_child_and_no_code(page, children)
    check(page, "approved")

    # The same parent's second application, from another address, is rejected.
    other = receive_application(
        school=school,
        data=ApplicantData(
            parent_id_code=_parent_code(),
            first_name="Mari",
            last_name="Maasikas",
            email="mari@example.ee",
            phone="+37255512345",
            child_id_codes=(children[0].id_code,),
        ),
        language="en",
    )
    confirm_address(application_id=other.pk)
    reject_application(
        application_id=other.pk, decided_by=secretary, reason="This child already has an account."
    )
    page.goto(f"{live_server.url}/apply/status/?t={status_token(other)}")
    expect(page.get_by_text("This child already has an account.")).to_be_visible()
    expect(page.locator('main a[href="mailto:kantselei@jpk.example.ee"]')).to_be_visible()
    check(page, "rejected")
    _switch(page, "Eesti")
    check(page, "rejected-et")
    _switch(page, "English")

    # Logged in, the parent sees both on the home page.
    parent = User.objects.get(email=EMAIL)
    parent.must_change_password = False
    parent.save()
    client = Client()
    client.force_login(parent)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    page.goto(live_server.url + "/")
    applications = page.locator("section", has=page.get_by_role("heading", name="My applications"))
    expect(applications.locator("li", has_text=re.compile(r"^\s*Approved on"))).to_be_visible()
    expect(applications.locator("li", has_text="Not approved on")).to_be_visible()
    check(page, "parent-home")


def test_an_expired_link_offers_a_new_one_and_a_tampered_link_is_refused(
    page, check, live_server, school, children, smtp_server
):
    application = receive_application(
        school=school,
        data=ApplicantData(
            parent_id_code=_parent_code(),
            first_name="Mari",
            last_name="Maasikas",
            email=EMAIL,
            phone="+37255512345",
            child_id_codes=tuple(c.id_code for c in children),
        ),
        language="et",
    )
    with time_machine.travel(timezone.now() - timedelta(days=8)):
        old_token = status_token(application)
    Application.objects.filter(pk=application.pk).update(
        receipt_sent_at=timezone.now() - timedelta(minutes=11)
    )

    page.goto(f"{live_server.url}/apply/status/?t={old_token}")
    _switch(page, "English")
    expect(page.get_by_role("heading", name="The link has expired")).to_be_visible()
    check(page, "expired")
    page.get_by_role("button", name="Send me a new link").click()
    expect(page.get_by_text("a new link is on its way")).to_be_visible()
    check(page, "new-link-sent")
    deliver_due_emails()
    assert [m["To"] for m in smtp_server.messages] == [EMAIL, EMAIL]  # the first and the new

    token = status_token(application)
    response = page.goto(f"{live_server.url}/apply/status/?t={token[:-3]}abc")
    assert response.status == 404
    assert "m•••" not in page.content()
    check(page, "tampered")
