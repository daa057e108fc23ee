"""Verified identity in a real browser, through the stand-in TARA on its own port: a known
guardian applies with Smart-ID and is logged in with the children at once, without any e-mail
password; an unlisted parent's verified application waits in the queue with its mark; the
administrator of a school that requires TARA reaches the admin through it. Every new page through
axe and the HTML checker, on a desktop and a phone (the stand-in's own page too)."""

import copy
from datetime import date

import pytest
from playwright.sync_api import expect

from koolivarav.accounts.tests.factories import SchoolAdminFactory
from koolivarav.applications.models import Application
from koolivarav.identity import client as identity_client
from koolivarav.identity.standin import Person, StandInProvider
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import SchoolFactory, StudentFactory

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MARI = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)
JAAN = make_id_code(birth=date(1979, 1, 23), female=False, serial=22)
KADRI = make_id_code(birth=date(1977, 3, 15), female=True, serial=1)
TARA_BUTTON = "Logi sisse ID-kaardi, Mobiil-ID või Smart-ID-ga"
APPLY_BUTTON = "Taotle ID-kaardi, Mobiil-ID või Smart-ID-ga"


@pytest.fixture
def tara(settings):
    provider = StandInProvider(
        client_id="koolivarav",
        client_secret="stand-in-secret",
        people=[
            Person(MARI, "MARI", "MAASIKAS"),
            Person(JAAN, "JAAN", "TAMM"),
            Person(KADRI, "KADRI", "KASK"),
        ],
        demo=False,
    ).start()
    identity_client._clients.clear()
    settings.IDENTITY_PROVIDERS = {
        "tara": {
            "ISSUER": provider.issuer,
            "CLIENT_ID": "koolivarav",
            "CLIENT_SECRET": "stand-in-secret",
            "SCOPE": "openid",
        }
    }
    # As the settings do for a configured provider: the button's redirect goes there.
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"] = ["'self'", provider.issuer]
    settings.CONTENT_SECURITY_POLICY = policy
    yield provider
    provider.stop()
    identity_client._clients.clear()


@pytest.fixture
def school(live_server):
    return SchoolFactory(portal_url=live_server.url + "/", known_guardians="approve")


@pytest.fixture
def children(school):
    return [
        StudentFactory(
            school=school,
            first_name="Kärt",
            last_name="Maasikas",
            class_name="3.b",
            guardian_id_codes=[MARI],
        ),
        StudentFactory(
            school=school,
            first_name="Jüri",
            last_name="Maasikas",
            class_name="7.a",
            guardian_id_codes=[MARI],
        ),
    ]


def _at_the_provider(page, check, code, method="smartid", name=None):
    expect(page.get_by_text("Demo: see on TARA asendaja")).to_be_visible()
    if name:
        check(page, name)
    page.locator(f'input[name="person"][value="{code}"]').check()
    page.locator(f'input[name="method"][value="{method}"]').check()
    page.locator('button[value="continue"]').click()


def _fill_the_rest(page, codes, email):
    page.get_by_label("Õpilase Isikukood").fill(" ".join(codes))
    page.get_by_label("Sinu e-mail", exact=True).fill(email)
    page.get_by_label("Sinu telefon").fill("5551 2345")
    page.get_by_role("button", name="Edasi »").click()
    page.get_by_label("Kirjuta sama e-mail uuesti").fill(email)
    page.get_by_role("button", name="Saada taotlus »").click()


def test_a_known_guardian_applies_with_smart_id_and_is_in_at_once(
    page, check, live_server, tara, children, smtp_server
):
    page.goto(live_server.url + "/")
    check(page, "home")
    page.get_by_role("button", name=TARA_BUTTON).click()
    _at_the_provider(page, check, MARI, name="tara-stand-in")
    # No account yet: the application, with her ID code and name from TARA.
    expect(page.get_by_text("Sinu isik on tuvastatud (Smart-ID)")).to_be_visible()
    expect(page.get_by_label("Sinu Isikukood")).to_have_value(MARI)
    expect(page.get_by_label("Sinu Isikukood")).to_be_disabled()
    expect(page.get_by_label("Sinu eesnimi")).to_have_value("Mari")
    check(page, "application-verified")
    _fill_the_rest(page, [c.id_code for c in children], "mari@example.ee")
    expect(page.get_by_text("Sinu konto on valmis")).to_be_visible()
    expect(page.get_by_role("link", name="Kärt Maasikas")).to_be_visible()
    expect(page.get_by_role("link", name="Jüri Maasikas")).to_be_visible()
    check(page, "home-approved-by-the-records")
    deliver_due_emails()
    assert not Email.objects.filter(kind="accounts.login_details").exists()
    assert not any("salasõna" in m.get_body(("plain",)).get_content() for m in smtp_server.messages)

    # Next time: the same button, straight in.
    page.get_by_role("button", name="Logi välja").click()
    page.get_by_role("button", name=TARA_BUTTON).click()
    _at_the_provider(page, check, MARI, method="idcard")
    expect(page.get_by_role("link", name="Kärt Maasikas")).to_be_visible()


def test_an_unlisted_parent_waits_marked_and_a_tara_admin_sees_it(
    page, check, live_server, tara, school, children
):
    school.admins_require_tara = True
    school.hold_unconfirmed_applications = False
    school.save()
    SchoolAdminFactory(school=school, id_code=KADRI, email="sekretar@jpk.example.ee")
    unlisted = StudentFactory(school=school, first_name="Ott", last_name="Tamm", class_name="2.a")

    page.goto(live_server.url + "/apply/")
    page.get_by_role("button", name=APPLY_BUTTON).click()
    _at_the_provider(page, check, JAAN, method="mID")
    _fill_the_rest(page, [unlisted.id_code], "jaan@example.ee")
    expect(page.get_by_text("✔ Taotlus on esitatud!")).to_be_visible()
    application = Application.objects.get()
    assert application.identity_method == "mID"
    assert application.status == Application.Status.PENDING
    assert not application.listed_as_guardian

    # The school's administrator: only through TARA at this school.
    page.goto(live_server.url + "/admin/")
    expect(page.get_by_text("Selle kooli administraatorid logivad sisse")).to_be_visible()
    check(page, "admin-login-tara")
    page.get_by_role("button", name=TARA_BUTTON).click()
    _at_the_provider(page, check, KADRI, method="idcard")
    page.get_by_role("link", name="Taotlused", exact=True).click()
    expect(page.get_by_text("isik tuvastatud: Mobiil-ID")).to_be_visible()
    page.get_by_role("link", name="Jaan Tamm").click()
    expect(page.get_by_text("isik tuvastatud: Mobiil-ID")).to_be_visible()
    page.screenshot(path=str(_shot("admin-application-verified")), full_page=True)


def _shot(name):
    from koolivarav.tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"verified-{name}.png"
