"""The whole journey as the parent and the school secretary see it, in a real browser."""

import re

import pytest
from playwright.sync_api import expect

from koolivarav.accounts.tests.factories import PASSWORD, SchoolAdminFactory
from koolivarav.accounts.tests.test_views import app_code
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import SchoolFactory, StudentFactory

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


NEW_PASSWORD = "Kolm rõõmsat kassipoega"


@pytest.fixture
def school(live_server):
    return SchoolFactory(portal_url=live_server.url + "/")


@pytest.fixture
def children(school):
    return [
        StudentFactory(school=school, first_name="Kärt", last_name="Maasikas", class_name="3.b"),
        StudentFactory(school=school, first_name="Jüri", last_name="Maasikas", class_name="7.a"),
    ]


@pytest.fixture
def secretary(school):
    return SchoolAdminFactory(school=school, email="sekretar@jpk.example.ee")


def _parent_code():
    from datetime import date

    return make_id_code(birth=date(1984, 5, 17), female=True, serial=271)


def _apply(page, check, live_server, children, *, email="mari.maasikas@example.ee", lang="et"):
    labels = {
        "et": ("esita andmed ja taotle kontot »", "Õpilase Isikukood", "Sinu Isikukood", "Sinu eesnimi",
               "Sinu perekonnanimi", "Sinu e-mail", "Sinu telefon", "Edasi »", "Kirjuta sama e-mail uuesti",
               "Saada taotlus »", "✔ Taotlus on esitatud!"),
        "en": ("submit your data and apply for an account »", "Student's ID code", "Your ID code",
               "Your first name", "Your last name", "Your e-mail", "Your phone", "Next »",
               "Type the same e-mail again", "Send application »", "✔ The application has been submitted!"),
    }[lang]  # fmt: skip
    page.goto(live_server.url + "/")
    check(page, "home")
    page.get_by_role("link", name=labels[0]).click()
    check(page, "step-1")
    page.get_by_label(labels[1]).fill(" ".join(c.id_code for c in children))
    page.get_by_label(labels[2]).fill(_parent_code())
    page.get_by_label(labels[3]).fill("Mari")
    page.get_by_label(labels[4]).fill("Maasikas")
    page.get_by_label(labels[5], exact=True).fill(email)
    page.get_by_label(labels[6]).fill("5551 2345")
    page.get_by_role("button", name=labels[7]).click()
    check(page, "step-2")
    page.get_by_label(labels[8]).fill(email)
    page.get_by_role("button", name=labels[9]).click()
    expect(page.get_by_text(labels[10])).to_be_visible()
    check(page, "submitted")


def _approve(page, check, live_server, secretary):
    page.goto(live_server.url + "/admin/")
    page.get_by_label("E-mail:").fill(secretary.email)
    page.get_by_label("Salasõna:").fill(PASSWORD)
    page.get_by_role("button", name="Logi sisse").click()
    # The first admin login sets up the authenticator app: the secretary types the key in.
    expect(page.get_by_role("heading", name="Teise teguri seadistamine")).to_be_visible()
    check(page, "admin-second-factor-setup")
    key = page.locator("code.second-factor-key").inner_text()
    page.get_by_label("Kood autentimisrakendusest").fill(app_code(key))
    page.get_by_role("button", name="Kinnita").click()
    # Then the recovery codes, once: saved, on to the admin.
    expect(page.locator("ol li").first).to_be_visible()
    check(page, "admin-recovery-codes")
    page.get_by_role("link", name="Salvestasin need, jätka").click()
    page.get_by_role("link", name="Taotlused", exact=True).click()
    page.get_by_role("link", name="Mari Maasikas").click()
    expect(page.get_by_role("cell", name="Kärt Maasikas", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="Jüri Maasikas", exact=True)).to_be_visible()
    page.screenshot(path=str(_shot("admin-application")), full_page=True)
    page.get_by_role("button", name="Kiida heaks").click()
    expect(page.get_by_text("heaks kiidetud; kiri on teel")).to_be_visible()
    page.get_by_role("button", name="Logi välja").click()


def _shot(name):
    from koolivarav.tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"journey-{name}.png"


def _temporary_password(smtp_server, to="mari.maasikas@example.ee"):
    deliver_due_emails()  # what the background worker does
    message = [m for m in smtp_server.messages if m["To"] == to][-1]
    body = message.get_body(("plain",)).get_content()
    return re.search(r"Ajutine salasõna on: ([0-9a-f]{8})", body).group(1)


def _log_in(page, live_server, username, password):
    page.goto(live_server.url + "/")
    page.get_by_label("E-mail või nimi").fill(username)
    page.get_by_label("Salasõna", exact=True).fill(password)
    page.get_by_role("button", name="Logi sisse").click()


def _confirm_address(page, smtp_server, to="mari.maasikas@example.ee"):
    """The receipt's link and its button: the school holds the application back until then."""
    deliver_due_emails()  # what the background worker does
    receipt = [m for m in smtp_server.messages if m["To"] == to][-1]
    body = receipt.get_body(("plain",)).get_content()
    page.goto(re.search(r"http://\S+/apply/status/\?t=\S+", body).group(0))
    page.locator("main form button[type=submit]").click()


def test_the_whole_journey(page, check, live_server, children, secretary, smtp_server):
    _apply(page, check, live_server, children)
    _confirm_address(page, smtp_server)
    _approve(page, check, live_server, secretary)
    password = _temporary_password(smtp_server)

    _log_in(page, live_server, "mari maasikas", password)
    expect(page.get_by_role("heading", name="Profiil")).to_be_visible()
    # One notice, speaking to the parent as "sa" (issue 13 item 6).
    expect(page.get_by_text("Palun määra enne jätkamist oma salasõna.")).to_have_count(1)
    check(page, "profile-first-login")
    page.get_by_label("Aadress").fill("Aia tn 5-12, Jõgeva linn, 48306 Jõgeva maakond")
    page.get_by_label("Telefon").fill("+372 5551 2345")
    page.get_by_label("Salasõna:", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Salasõna x2:", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Salvesta").click()
    expect(page.get_by_text("Sinu andmed ja uus salasõna on salvestatud.")).to_be_visible()
    check(page, "profile-saved")
    page.get_by_role("button", name="logi välja").click()

    _log_in(page, live_server, "Mari.Maasikas@Example.ee", NEW_PASSWORD)
    expect(page.get_by_role("link", name="Kärt Maasikas")).to_be_visible()
    expect(page.get_by_role("link", name="Jüri Maasikas")).to_be_visible()
    check(page, "parent-home")
    page.get_by_role("link", name="Jüri Maasikas").click()
    expect(page.get_by_text("7.a")).to_be_visible()
    check(page, "child")
    page.get_by_role("link", name="profiil").click()
    expect(page.get_by_label("Aadress")).to_have_value(
        "Aia tn 5-12, Jõgeva linn, 48306 Jõgeva maakond"
    )


def test_a_mistyped_child_code_is_shown_next_to_its_field(page, check, live_server, children):
    page.goto(live_server.url + "/apply/")
    field = page.get_by_label("Õpilase Isikukood")
    field.fill(children[0].id_code[:-1] + ("0" if children[0].id_code[-1] != "0" else "1"))
    page.get_by_label("Sinu Isikukood").fill(_parent_code())
    page.get_by_label("Sinu eesnimi").fill("Mari")
    page.get_by_role("button", name="Edasi »").click()
    expect(page.get_by_text("kontrollnumber")).to_be_visible()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Sinu eesnimi")).to_have_value("Mari")
    check(page, "step-1-errors")


def test_a_different_email_on_step_2_is_refused(page, check, live_server, children):
    page.goto(live_server.url + "/apply/")
    page.get_by_label("Õpilase Isikukood").fill(children[0].id_code)
    page.get_by_label("Sinu Isikukood").fill(_parent_code())
    page.get_by_label("Sinu eesnimi").fill("Mari")
    page.get_by_label("Sinu perekonnanimi").fill("Maasikas")
    page.get_by_label("Sinu e-mail", exact=True).fill("mari@example.ee")
    page.get_by_label("Sinu telefon").fill("5551 2345")
    page.get_by_role("button", name="Edasi »").click()
    page.get_by_label("Kirjuta sama e-mail uuesti").fill("mari@example.com")
    page.get_by_role("button", name="Saada taotlus »").click()
    expect(page.get_by_text("See ei ole sama meiliaadress")).to_be_visible()
    check(page, "step-2-mismatch")


def test_a_wrong_password_gets_one_clear_message(page, check, live_server, school):
    _log_in(page, live_server, "Mari Maasikas", "vale-salasõna")
    expect(page.get_by_text("Kasutajanimi või salasõna on vale")).to_be_visible()
    check(page, "wrong-password")


def test_the_password_reset_email_and_link(page, check, live_server, school, smtp_server, settings):
    from django.core.management import call_command

    from koolivarav.accounts.tests.factories import UserFactory

    # The reset request is handed to the worker, which looks the person up: the live server
    # runs in another thread, so the task goes through the database as in production.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    UserFactory(school=school, email="mari@example.ee")
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Unustasid salasõna?").click()
    check(page, "reset-form")
    page.get_by_label("Sinu e-mail või nimi").fill("Mari Maasikas")
    page.get_by_role("button", name="Saada link »").click()
    check(page, "reset-sent")
    call_command("run_worker", batch=True, verbosity=0)
    body = smtp_server.messages[-1].get_body(("plain",)).get_content()
    link = re.search(r"https?://\S+/password-reset/\S+", body).group(0)
    page.goto(link)
    check(page, "reset-set-password")
    # The profile's labels (SPEC step 6), not Django's "Uus salasõna" (issue 13 item 6).
    page.get_by_label("Salasõna:", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Salasõna x2:").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Salvesta").click()
    expect(page.get_by_text("Uus salasõna on salvestatud")).to_be_visible()
    _log_in(page, live_server, "mari@example.ee", NEW_PASSWORD)
    # "Minu lapsed" is also the top bar's link now: the heading is the home page's.
    expect(page.get_by_role("heading", name="Minu lapsed")).to_be_visible()


@pytest.fixture
def english_context_args(browser_context_args):
    return {**browser_context_args, "locale": "en-GB"}


def test_the_application_in_english(browser, english_context_args, check, live_server, children):
    context = browser.new_context(**english_context_args)
    page = context.new_page()
    _apply(page, check, live_server, children, lang="en")
    context.close()


def test_the_checks_catch_a_missing_label_and_invalid_html(page, check, live_server, school):
    """The accessibility and HTML checks can fail: a page without a label fails both."""
    page.goto(live_server.url + "/apply/")
    page.evaluate("document.querySelector('label[for=id_first_name]').remove()")
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p><div>bad nesting</p>')")
    with pytest.raises(AssertionError, match="label"):
        check(page, "regression")
