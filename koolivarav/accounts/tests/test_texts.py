"""What a new parent reads along the way (issue 13 item 6): one form of address ("sa", as
the guide's e-mail), one wording of the password rule, one notice at a time, and a way on."""

import re

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from koolivarav.accounts.tests.factories import PASSWORD, UserFactory

# The formal "you" (Teie, Teid, Teil, …) and its imperative (sisestage, kontrollige, …).
FORMAL = re.compile(
    r"\b(Te|Teie|Teid|Teil|Teile|Teilt|olete|saate|peate|võite|soovite|"
    r"\w+(?:age|ige|ake)|võtke|täitke|andke|minge|olge)\b",
    re.IGNORECASE,
)
# Words that end like the formal imperative but are not one.
NOT_FORMAL = {"õige", "õigel", "selge", "nimekirjaga", "lage"}


def _formal_words(html: str) -> list[str]:
    text = re.sub(r"<[^>]+>", " ", html)
    return [w for w in FORMAL.findall(text) if w.lower() not in NOT_FORMAL]


def _page(response) -> str:
    return response.content.decode()


@pytest.fixture
def new_parent(school):
    user = UserFactory(school=school, email="mari@example.ee", phone="+37255512345")
    user.must_change_password = True
    user.save()
    return user


def test_the_first_login_shows_one_notice_in_the_informal_address(school_client, new_parent):
    response = school_client.post(
        "/", {"username": "mari@example.ee", "password": PASSWORD}, follow=True
    )
    page = _page(response)
    assert response.redirect_chain[-1][0] == reverse("accounts:profile")
    assert page.count("määra") == 1, "the same notice twice"
    assert _formal_words(page) == []


def test_the_password_rules_say_8_symbols_everywhere(school_client, new_parent):
    school_client.force_login(new_parent)
    page = _page(school_client.get(reverse("accounts:profile")))
    assert "vähemalt 8 sümbolit" in page
    response = school_client.post(
        reverse("accounts:profile"), {"password1": "lühike", "password2": "lühike"}
    )
    page = _page(response)
    assert "vähemalt 8 sümbolit" in page
    assert "tähte" not in page
    assert _formal_words(page) == []


@pytest.mark.parametrize(
    ("password", "code_word"),
    [("12345678901", "numbritest"), ("password123", "levinud"), ("mari@example.ee", "sarnane")],
)
def test_every_password_error_speaks_to_the_parent_as_sa(
    school_client, new_parent, password, code_word
):
    school_client.force_login(new_parent)
    page = _page(
        school_client.post(
            reverse("accounts:profile"), {"password1": password, "password2": password}
        )
    )
    assert code_word in page
    assert _formal_words(page) == []


def _reset_link(user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("accounts:password_reset_confirm", args=[uid, token])


def test_the_reset_page_uses_the_profiles_labels_and_rules(school_client, parent):
    form_url = school_client.get(_reset_link(parent), follow=True).redirect_chain[-1][0]
    page = _page(school_client.get(form_url))
    assert '">Salasõna:</label>' in page
    assert '">Salasõna x2:</label>' in page
    assert "vähemalt 8 sümbolit" in page.lower()
    assert "Uus salasõna" not in page
    assert "kinnitus" not in page
    assert _formal_words(page) == []
    page = _page(school_client.post(form_url, {"new_password1": "abc", "new_password2": "abd"}))
    assert "Kaks salasõna ei ole samad." in page
    page = _page(school_client.post(form_url, {"new_password1": "abc", "new_password2": "abc"}))
    assert "vähemalt 8 sümbolit" in page
    assert "tähte" not in page
    assert _formal_words(page) == []


def test_after_saving_the_parent_sees_the_saved_state_and_a_way_on(school_client, parent):
    school_client.force_login(parent)
    response = school_client.post(
        reverse("accounts:profile"), {"phone": "5123 4567", "address": "Aia tn 5"}, follow=True
    )
    page = _page(response)
    assert "Sinu andmed on salvestatud." in page
    assert 'value="5123 4567"' in page
    assert re.search(r'<a href="/"[^>]*>Minu lapsed</a>', page.split("</header>")[1])


def test_the_top_bar_has_my_children_for_a_parent(school_client, parent):
    school_client.force_login(parent)
    header = _page(school_client.get(reverse("accounts:profile"))).split("</header>")[0]
    assert re.search(r'<a href="/"[^>]*>Minu lapsed</a>', header)


def test_logging_out_says_so(school_client, parent):
    school_client.force_login(parent)
    page = _page(school_client.post(reverse("accounts:logout"), follow=True))
    assert "Oled välja logitud." in page


def test_the_profile_shows_an_estonian_phone_as_people_write_it(school_client, parent):
    parent.phone = "+37255512345"
    parent.save()
    school_client.force_login(parent)
    page = _page(school_client.get(reverse("accounts:profile")))
    assert 'value="5551 2345"' in page
    parent.phone = "+358401234567"
    parent.save()
    page = _page(school_client.get(reverse("accounts:profile")))
    assert 'value="+358 40 1234567"' in page


def test_the_application_link_is_a_button_on_the_home_page(school_client):
    page = _page(school_client.get("/"))
    assert re.search(
        r'<a class="button[^"]*" href="/[^"]*">esita andmed ja taotle kontot »</a>', page
    )


@pytest.mark.parametrize(
    "path",
    [
        "/",
        reverse("accounts:password_reset"),
        reverse("accounts:password_reset_done"),
        reverse("applications:start"),
    ],
)
def test_public_pages_speak_to_the_parent_as_sa(school_client, path):
    page = _page(school_client.get(path))
    assert _formal_words(page) == []


def test_step_1_errors_speak_to_the_parent_as_sa(school_client):
    page = _page(school_client.post(reverse("applications:start"), {"email": "mari@"}))
    assert _formal_words(page) == []


def test_english_texts_read_as_english(school_client, parent):
    school_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = _page(school_client.get(reverse("applications:start")))
    assert "order your access details" not in page.lower()
    school_client.force_login(parent)
    page = _page(school_client.get(reverse("accounts:profile")))
    assert "Password x2:" not in page
    assert '">Confirm password:</label>' in page
