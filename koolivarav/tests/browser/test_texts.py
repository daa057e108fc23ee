"""What a new parent sees (issue 13 item 6), in Chromium on a desktop and a phone: the way
to apply first and as a button, step 1 in the guide's two columns on a wide screen, the
profile's way on, and the logout message. Axe and the HTML checker on every page."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from koolivarav.accounts.tests.factories import PASSWORD, UserFactory
from koolivarav.schools.tests.factories import SchoolFactory

from .conftest import DESKTOP, PHONE

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

APPLY = "esita andmed ja taotle kontot »"


@pytest.fixture
def school(live_server):
    return SchoolFactory(portal_url=live_server.url + "/")


def test_the_way_to_apply_comes_first_as_a_button(page, check, live_server, school):
    page.goto(live_server.url + "/")
    check(page, "home")
    button = page.get_by_role("link", name=APPLY)
    login = page.get_by_role("heading", name="Logi sisse")
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        box = button.bounding_box()
        assert box["y"] + box["height"] <= viewport["height"], "the button is below the fold"
        assert box["y"] < login.bounding_box()["y"]
        assert box["height"] >= 44, "a button a thumb can hit"
        assert button.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(11, 83, 148)"


def test_step_1_has_the_guides_two_columns_on_a_wide_screen(page, check, live_server, school):
    page.goto(live_server.url + reverse("applications:start"))
    check(page, "step-1")
    fields = {
        name: page.get_by_label(label, exact=True)
        for name, label in [
            ("first", "Sinu eesnimi"),
            ("last", "Sinu perekonnanimi"),
            ("email", "Sinu e-mail"),
            ("phone", "Sinu telefon"),
        ]
    }
    boxes = {name: field.bounding_box() for name, field in fields.items()}
    assert boxes["first"]["x"] < boxes["email"]["x"]
    assert abs(boxes["first"]["y"] - boxes["email"]["y"]) < 2
    assert abs(boxes["last"]["y"] - boxes["phone"]["y"]) < 2
    assert boxes["first"]["y"] < boxes["last"]["y"]
    page.set_viewport_size(PHONE)
    boxes = {name: field.bounding_box() for name, field in fields.items()}
    assert len({round(b["x"]) for b in boxes.values()}) == 1, "one column on a phone"
    assert boxes["first"]["y"] < boxes["last"]["y"] < boxes["email"]["y"] < boxes["phone"]["y"]
    page.set_viewport_size(DESKTOP)


def test_saving_the_profile_and_logging_out(page, check, live_server, school):
    UserFactory(school=school, email="mari@example.ee", phone="+37255512345")
    page.goto(live_server.url + "/")
    page.get_by_label("E-mail või nimi").fill("mari@example.ee")
    page.get_by_label("Salasõna").fill(PASSWORD)
    page.get_by_role("button", name="Logi sisse").click()
    page.get_by_role("banner").get_by_role("link", name="profiil").click()
    expect(page.get_by_label("Telefon")).to_have_value("5551 2345")
    page.get_by_label("Telefon").fill("5123 4567")
    page.get_by_role("button", name="Salvesta").click()
    expect(page.get_by_text("Sinu andmed on salvestatud.")).to_be_visible()
    expect(page.get_by_label("Telefon")).to_have_value("5123 4567")
    check(page, "profile-saved")
    page.get_by_role("main").get_by_role("link", name="Minu lapsed").click()
    expect(page.get_by_role("heading", name="Minu lapsed")).to_be_visible()
    expect(page.get_by_role("banner").get_by_role("link", name="Minu lapsed")).to_be_visible()
    page.get_by_role("button", name="logi välja").click()
    expect(page.get_by_text("Oled välja logitud.")).to_be_visible()
    check(page, "logged-out")
