"""The school's contact in a real browser: the footer, the 404 and 429 pages and the parent's
home, each checked by axe and the HTML checker on a desktop and a phone, in Estonian and
English."""

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import expect

from koolivarav.accounts.tests.factories import UserFactory
from koolivarav.schools.tests.factories import SchoolFactory, StudentFactory

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTACT = {
    "office_email": "kantselei@jpk.example.ee",
    "phone": "+3727761234",
    "postal_address": "Tähe 3, 48105 Jõgeva",
    # A long line: it must wrap on a 360 px phone, not widen the page.
    "office_hours": "E-N 8.00-16.30, R 8.00-15.00; koolivaheaegadel kokkuleppel",
}


@pytest.fixture
def school(live_server):
    return SchoolFactory(portal_url=live_server.url + "/", **CONTACT)


def _expect_contact(scope):
    expect(scope.locator('a[href="mailto:kantselei@jpk.example.ee"]')).to_be_visible()
    expect(scope.locator('a[href="tel:+3727761234"]')).to_have_text("776 1234")
    expect(scope.get_by_text("Tähe 3, 48105 Jõgeva")).to_be_visible()


def test_the_footer_and_the_error_pages(page, check, live_server, school, settings):
    page.goto(live_server.url + "/")
    _expect_contact(page.locator("footer"))
    check(page, "home-footer")

    page.goto(live_server.url + "/no-such-page/")
    _expect_contact(page.locator("main"))
    expect(page.locator("footer")).to_have_count(0)  # once per page
    check(page, "404")

    limits = {**settings.KOOLIVARAV["RATE_LIMITS"], "application_form_per_address": (1, 3600)}
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "RATE_LIMITS": limits}
    page.goto(live_server.url + "/apply/")
    for _ in range(2):
        page.locator("main form button[type=submit]").first.click()
    _expect_contact(page.locator("main"))
    check(page, "429")


def test_the_footer_in_english(page, check, live_server, school):
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="English").click()
    footer = page.locator("footer")
    expect(footer.get_by_role("heading", name="The school's contact details")).to_be_visible()
    expect(footer.get_by_text("Office hours")).to_be_visible()
    check(page, "home-footer-en")


def test_the_parents_home_shows_the_contact_under_the_children(page, check, live_server, school):
    parent = UserFactory(school=school)
    parent.children.add(StudentFactory(school=school, first_name="Kärt", last_name="Maasikas"))
    client = Client()
    client.force_login(parent)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    page.goto(live_server.url + "/")
    expect(page.get_by_role("link", name="Kärt Maasikas")).to_be_visible()
    _expect_contact(page.locator("main"))
    expect(page.locator("footer")).to_have_count(0)
    check(page, "parent-home")
