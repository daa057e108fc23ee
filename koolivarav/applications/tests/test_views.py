import time
from datetime import date

import pytest
import time_machine
from django.urls import reverse

from koolivarav.applications.models import Application
from koolivarav.applications.views import STEP1_KEY
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory

START = reverse("applications:start")
CONFIRM = reverse("applications:confirm")
SUBMITTED = reverse("applications:submitted")
PARENT = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)


@pytest.fixture
def children(school):
    return [StudentFactory(school=school), StudentFactory(school=school)]


def _step1(children, **changes):
    data = {
        "child_id_codes": " ".join(c.id_code for c in children),
        "parent_id_code": PARENT,
        "first_name": "Mari",
        "last_name": "Maasikas",
        "email": "Mari.Maasikas@Example.EE",
        "phone": "5551 2345",
    }
    data.update(changes)
    return data


def _errors(response, field):
    return [str(e) for e in response.context["form"].errors.get(field, [])]


def _apply(client, children, email_again="mari.maasikas@example.ee", **changes):
    response = client.post(START, _step1(children, **changes))
    assert response.status_code == 302, response.context["form"].errors
    return client.post(CONFIRM, {"email_again": email_again})


# --- the pages show the texts of the school guide ---------------------------------------------


def test_the_home_page_leads_to_the_application(school_client):
    page = school_client.get("/").content.decode()
    assert "Kui koolil pole veel minu andmeid, või pole neid süsteemi sisestanud:" in page
    assert f'href="{START}">esita andmed ja taotle kontot »</a>' in page


@pytest.mark.parametrize(
    "text",
    [
        "Õpilase Isikukood",
        "Kui sul on mitu last, sisesta nende kõigi Isikukoodid, nt: &quot;59401011234 69510101234&quot;",
        "Sinu Isikukood",
        "Sinu eesnimi",
        "Sinu perekonnanimi",
        "Sinu e-mail",
        "Sinu telefon",
        "Edasi »",
        "Lapsevanema konto taotlemine",
    ],
)
def test_step_1_shows_the_guides_estonian_texts(school_client, text):
    assert text in school_client.get(START).content.decode()


@pytest.mark.parametrize(
    "text",
    [
        "Student&#x27;s ID code",
        "If you have several children, enter all their ID codes",
        "Your ID code",
        "Your first name",
        "Your last name",
        "Your e-mail",
        "Your phone",
        "Next »",
        "Applying for a parent account",
    ],
)
def test_step_1_speaks_english_too(school_client, text):
    page = school_client.get(START, headers={"accept-language": "en"}).content.decode()
    assert text in page


def test_every_input_has_a_label_and_the_hint_is_tied_to_its_field(school_client):
    page = school_client.get(START).content.decode()
    for name in ("child_id_codes", "parent_id_code", "first_name", "last_name", "email", "phone"):
        assert f'<label for="id_{name}">' in page
    assert 'aria-describedby="id_child_id_codes_helptext"' in page


def test_step_2_and_the_confirmation_show_the_guides_texts(school_client, children):
    school_client.post(START, _step1(children))
    step2 = school_client.get(CONFIRM).content.decode()
    for text in (
        "Lapsevanema konto taotlemine",
        "Kirjuta sama e-mail uuesti",
        "Kui kool taotluse heaks kiidab, saadetakse sisestatud meiliaadressile sisse logimiseks vajalik info.",
        "Saada taotlus »",
    ):
        assert text in step2
    response = school_client.post(CONFIRM, {"email_again": "mari.maasikas@example.ee"}, follow=True)
    done = response.content.decode()
    for text in (
        "See vorm on uuele lapsevanemale, kellel ei ole veel kooli süsteemis kontot. Kui sul on konto olemas, kuid oled unustanud salasõna,",
        f'<a href="{reverse("accounts:password_reset")}">telli meiliga ligipääsuandmed</a> »',
        "✔ Taotlus on esitatud!",
        "Kui kool taotluse heaks kiidab, saadetakse sisestatud meiliaadressile sisse logimiseks vajalik info.",
    ):
        assert text in done


# --- the whole application ---------------------------------------------------------------------


def test_a_parent_applies_for_two_children(school_client, school, children):
    response = _apply(school_client, children)
    assert response.status_code == 302
    assert response["Location"] == SUBMITTED
    application = Application.objects.get()
    assert application.school == school
    assert set(application.children.all()) == set(children)
    assert application.email == "Mari.Maasikas@example.ee"
    assert application.phone == "+37255512345"
    assert application.language == "et"


def test_step_1_keeps_its_data_on_the_server_not_in_the_page(school_client, children):
    school_client.post(START, _step1(children))
    page = school_client.get(CONFIRM).content.decode()
    assert PARENT not in page
    assert "Maasikas" not in page
    assert school_client.session[STEP1_KEY]["data"]["parent_id_code"] == PARENT


def test_nothing_is_created_before_step_2(school_client, children):
    school_client.post(START, _step1(children))
    assert Application.objects.count() == 0


def test_the_language_the_parent_used_is_recorded(school_client, children):
    school_client.post(START, _step1(children), headers={"accept-language": "en"})
    school_client.post(
        CONFIRM, {"email_again": "mari.maasikas@example.ee"}, headers={"accept-language": "en"}
    )
    assert Application.objects.get().language == "en"


@pytest.mark.parametrize("separator", [" ", "  ", ",", ", ", ";", "\n", "\r\n", " ; "])
def test_several_codes_are_accepted_with_any_separator(school_client, children, separator):
    codes = f"  {children[0].id_code}{separator}{children[1].id_code}  "
    _apply(school_client, children, child_id_codes=codes)
    assert Application.objects.get().children.count() == 2


def test_a_code_given_twice_counts_once(school_client, children):
    codes = f"{children[0].id_code} {children[0].id_code}"
    _apply(school_client, children, child_id_codes=codes)
    assert list(Application.objects.get().children.all()) == [children[0]]


def test_back_from_step_2_shows_what_was_typed(school_client, children):
    school_client.post(START, _step1(children))
    form = school_client.get(START).context["form"]
    assert form.initial["first_name"] == "Mari"
    assert form.initial["child_id_codes"] == " ".join(c.id_code for c in children)


# --- each rule of step 1 has its message next to its field --------------------------------------


@pytest.mark.parametrize(
    "field", ["child_id_codes", "parent_id_code", "first_name", "last_name", "email", "phone"]
)
@pytest.mark.parametrize("empty", ["", "   "])
def test_every_field_is_required(school_client, children, field, empty):
    response = school_client.post(START, _step1(children, **{field: empty}))
    assert response.status_code == 200
    assert _errors(response, field)
    assert (
        f'aria-describedby="id_{field}_error"' in response.content.decode()
        or field == "child_id_codes"
    )


def test_the_child_field_ties_both_hint_and_error(school_client, children):
    response = school_client.post(START, _step1(children, child_id_codes="123"))
    assert (
        'aria-describedby="id_child_id_codes_helptext id_child_id_codes_error"'
        in response.content.decode()
    )


def test_a_mistyped_child_code_is_named_and_everything_typed_is_kept(school_client, children):
    response = school_client.post(
        START, _step1(children, child_id_codes=f"{children[0].id_code} 39001010008")
    )
    assert any(
        "39001010008" in e and "kontrollnumber" in e for e in _errors(response, "child_id_codes")
    )
    page = response.content.decode()
    assert 'value="Mari"' in page
    assert 'value="Maasikas"' in page
    assert f"{children[0].id_code} 39001010008" in page
    assert Application.objects.count() == 0


def test_each_wrong_code_gets_its_own_message(school_client, children):
    response = school_client.post(START, _step1(children, child_id_codes="123 39001010008 abc"))
    errors = _errors(response, "child_id_codes")
    assert len(errors) == 3
    assert all(any(code in e for e in errors) for code in ("123", "39001010008", "abc"))


@pytest.mark.parametrize("case", ["unknown", "other_school", "left_school"])
def test_a_valid_code_that_is_not_a_student_here_gets_one_message_whatever_the_reason(
    school_client, children, other_school, case
):
    if case == "unknown":
        code = make_id_code(birth=date(2013, 2, 3), female=False, serial=555)
    elif case == "other_school":
        code = StudentFactory(school=other_school).id_code
    else:
        code = StudentFactory(school=children[0].school, is_active=False).id_code
    response = school_client.post(START, _step1(children, child_id_codes=code))
    assert _errors(response, "child_id_codes") == [
        f"Isikukood {code} ei ole selle kooli õpilaste nimekirjas. Palun kontrolli koodi; "
        "kui see on õige, palu koolil oma laps süsteemi sisestada."
    ]


def test_too_many_children_are_refused(school_client, children, settings):
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "MAX_CHILDREN_PER_APPLICATION": 1}
    response = school_client.post(START, _step1(children))
    assert "1" in _errors(response, "child_id_codes")[0]


@pytest.mark.parametrize("code", ["3900101000", "39001010008", "abcdefghijk"])
def test_the_parents_own_code_must_be_valid(school_client, children, code):
    response = school_client.post(START, _step1(children, parent_id_code=code))
    assert code in _errors(response, "parent_id_code")[0]


def test_the_parents_own_code_cannot_be_a_childs(school_client, children):
    response = school_client.post(START, _step1(children, parent_id_code=children[0].id_code))
    assert _errors(response, "parent_id_code")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Mari-Liis  ", "Mari-Liis"),
        ("Õnne   Ülle", "Õnne Ülle"),
        ("Z\u030canna", "Žanna"),
        ("O'Connor", "O'Connor"),
    ],
)
def test_names_are_trimmed_and_normalised(school_client, children, typed, stored):
    _apply(school_client, children, first_name=typed)
    assert Application.objects.get().first_name == stored


@pytest.mark.parametrize("name", ["Mari2", "<script>", "Mari--Liis", "-", "Mari\x00", "😀"])
def test_names_with_other_characters_are_refused(school_client, children, name):
    response = school_client.post(START, _step1(children, first_name=name))
    assert _errors(response, "first_name")


def test_a_name_over_150_characters_is_refused(school_client, children):
    response = school_client.post(START, _step1(children, last_name="a" * 151))
    assert _errors(response, "last_name")


@pytest.mark.parametrize(
    "email",
    [
        "mari",
        "mari@",
        "@example.ee",
        "mari@@example.ee",
        "mari@exa\nmple.ee",
        "mari@example.ee\x00",
    ],
)
def test_an_invalid_email_is_refused(school_client, children, email):
    response = school_client.post(START, _step1(children, email=email))
    assert _errors(response, "email")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("5551 2345", "+37255512345"),
        ("+372 5551 2345", "+37255512345"),
        ("00372 5551 2345", "+37255512345"),
        ("+358 40 1234567", "+358401234567"),
        ("7 123 456", "+3727123456"),
    ],
)
def test_phone_numbers_are_stored_in_e164(school_client, children, typed, stored):
    _apply(school_client, children, phone=typed)
    assert Application.objects.get().phone == stored


@pytest.mark.parametrize("phone", ["123", "abc", "+372 1", "5" * 40])
def test_an_invalid_phone_is_refused(school_client, children, phone):
    response = school_client.post(START, _step1(children, phone=phone))
    assert _errors(response, "phone")


# --- step 2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["mari.maasikas@example.ee", "MARI.MAASIKAS@EXAMPLE.EE"])
def test_the_email_again_is_compared_without_case(school_client, children, typed):
    response = _apply(school_client, children, email_again=typed)
    assert response.status_code == 302


def test_a_different_email_on_step_2_is_refused_and_nothing_is_created(school_client, children):
    response = _apply(school_client, children, email_again="mari.maasikas@example.com")
    assert response.status_code == 200
    assert "ei ole sama" in _errors(response, "email_again")[0]
    assert Application.objects.count() == 0


def test_step_2_without_step_1_sends_back_with_a_message(school_client):
    response = school_client.post(CONFIRM, {"email_again": "x@example.ee"}, follow=True)
    assert response.redirect_chain[-1][0] == START
    assert "ei leitud või on aegunud" in response.content.decode()
    assert Application.objects.count() == 0


def test_an_expired_step_1_sends_back_and_creates_nothing(school_client, children):
    with time_machine.travel(time.time(), tick=False) as traveller:
        school_client.post(START, _step1(children))
        traveller.shift(2 * 60 * 60)
        response = school_client.post(CONFIRM, {"email_again": "mari.maasikas@example.ee"})
    assert response["Location"] == START
    assert Application.objects.count() == 0


def test_step_1_of_another_school_does_not_carry_over(school_client, children, other_school):
    school_client.post(START, _step1(children))
    response = school_client.get(CONFIRM, HTTP_HOST="tamme.example.ee")
    assert response.status_code == 302


def test_a_double_click_creates_one_application(school_client, children):
    _apply(school_client, children)
    again = school_client.post(CONFIRM, {"email_again": "mari.maasikas@example.ee"})
    assert again["Location"] == SUBMITTED
    assert Application.objects.count() == 1


def test_reloading_the_confirmation_sends_nothing_again(school_client, children):
    _apply(school_client, children)
    assert school_client.get(SUBMITTED).status_code == 200
    assert Application.objects.count() == 1


def test_the_confirmation_page_alone_leads_to_the_form(school_client):
    assert school_client.get(SUBMITTED)["Location"] == START


def test_applying_again_for_another_child_adds_it_to_the_pending_application(school, children):
    from django.test import Client

    _apply(Client(), children[:1])
    _apply(Client(), children[1:], phone="+372 5551 2345")
    application = Application.objects.get()
    assert application.children.count() == 2


def test_a_parent_with_an_account_sees_the_same_confirmation(school_client, children, parent):
    parent.id_code = PARENT
    parent.save()
    response = _apply(school_client, children)
    assert response["Location"] == SUBMITTED


# --- abuse resistance ---------------------------------------------------------------------------


def test_the_form_is_rate_limited_per_client_address(school_client, children, settings):
    limits = {**settings.KOOLIVARAV["RATE_LIMITS"], "application_form_per_address": (3, 3600)}
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "RATE_LIMITS": limits}
    for _ in range(3):
        assert school_client.post(START, _step1(children, first_name="1")).status_code == 200
    response = school_client.post(START, _step1(children))
    assert response.status_code == 429
    assert "Liiga palju katseid" in response.content.decode()
    assert STEP1_KEY not in school_client.session


def test_the_form_is_rate_limited_per_email(school, children, settings):
    from django.test import Client

    limits = {**settings.KOOLIVARAV["RATE_LIMITS"], "application_per_email": (2, 3600)}
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "RATE_LIMITS": limits}
    for n in range(2):
        assert _apply(Client(REMOTE_ADDR=f"10.0.0.{n}"), children).status_code == 302
    response = _apply(Client(REMOTE_ADDR="10.0.0.9"), children, email="MARI.maasikas@example.ee")
    assert response.status_code == 429
    assert Application.objects.count() == 1


def test_the_limit_ends_after_its_window(school_client, children, settings):
    limits = {**settings.KOOLIVARAV["RATE_LIMITS"], "application_form_per_address": (1, 60)}
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "RATE_LIMITS": limits}
    with time_machine.travel(time.time(), tick=False) as traveller:
        school_client.post(START, _step1(children))
        assert school_client.post(START, _step1(children)).status_code == 429
        traveller.shift(61)
        assert school_client.post(START, _step1(children)).status_code == 302


def test_the_forms_need_a_csrf_token(school, children):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(START, _step1(children))
    assert response.status_code == 403
    assert "Vorm on aegunud" in response.content.decode()


def test_step_1_data_of_an_unknown_shape_is_treated_as_missing(school_client, school):
    session = school_client.session
    session[STEP1_KEY] = {"school_id": school.pk, "saved_at": time.time(), "data": {"x": 1}}
    session.save()
    assert school_client.get(START).status_code == 200
    assert school_client.get(CONFIRM)["Location"] == START
