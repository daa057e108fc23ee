"""A Russian-speaking parent applies in Russian, in a real browser, on a desktop and a phone."""

from datetime import date

import pytest
from playwright.sync_api import expect

from koolivarav.applications.models import Application
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import SchoolFactory, StudentFactory
from koolivarav.tests.test_locale import untranslated_texts

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "jelena.ivanova@example.ee"


@pytest.fixture
def school(live_server):
    return SchoolFactory(portal_url=live_server.url + "/")


@pytest.fixture
def children(school):
    return [
        StudentFactory(school=school, first_name="Sofia", last_name="Ivanova", class_name="3.b"),
        StudentFactory(school=school, first_name="Maksim", last_name="Ivanov", class_name="7.a"),
    ]


def _in_russian(page, *names):
    """The page is marked Russian and shows no English or Estonian text but names."""
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    typed = ["Jõgeva Põhikool", "Jelena", "Ivanova", "Sofia", "Maksim", "Ivanov", EMAIL]
    assert untranslated_texts(page.content(), [*typed, *names]) == []


@pytest.fixture(params=["desktop", "phone"])
def screen(request):
    return request.param


def test_a_parent_applies_in_russian(
    browser, browser_context_args, check, live_server, children, screen
):
    from .conftest import DESKTOP, PHONE

    # An Estonian browser: the parent finds the switch and chooses Russian.
    context = browser.new_context(
        **{**browser_context_args, "viewport": PHONE if screen == "phone" else DESKTOP}
    )
    page = context.new_page()
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Русский").click()
    check(page, f"{screen}-home")
    _in_russian(page)

    page.get_by_role("link", name="подать данные и заявление на учетную запись »").click()
    check(page, f"{screen}-step-1")
    _in_russian(page)
    page.get_by_label("Личный код ученика").fill(" ".join(c.id_code for c in children))
    page.get_by_label("Ваш личный код").fill(
        make_id_code(birth=date(1985, 3, 9), female=True, serial=112)
    )
    page.get_by_label("Ваше имя").fill("Елена")  # typed in Cyrillic first
    page.get_by_label("Ваша фамилия").fill("Ivanova")
    page.get_by_label("Ваш e-mail", exact=True).fill(EMAIL)
    page.get_by_label("Ваш телефон").fill("5551 2345")
    page.get_by_role("button", name="Далее »").click()
    expect(page.get_by_text("Напишите имя латинскими буквами")).to_be_visible()
    check(page, f"{screen}-step-1-cyrillic-name")
    _in_russian(page)

    page.get_by_label("Ваше имя").fill("Jelena")
    page.get_by_role("button", name="Далее »").click()
    expect(page.get_by_role("heading", name="Заявление на учетную запись родителя")).to_be_visible()
    check(page, f"{screen}-step-2")
    _in_russian(page)
    page.get_by_label("Введите тот же e-mail еще раз").fill(EMAIL)
    page.get_by_role("button", name="Отправить заявление »").click()
    expect(page.get_by_text("✔ Заявление подано!")).to_be_visible()
    check(page, f"{screen}-submitted")
    _in_russian(page)
    context.close()

    application = Application.objects.get()
    assert (application.first_name, application.language) == ("Jelena", "ru")
