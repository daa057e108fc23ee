from django.urls import reverse


def test_the_home_page_has_the_login_form_and_the_reset_link(school_client):
    page = school_client.get("/").content.decode()
    assert '<label for="id_username">E-mail või nimi</label>' in page
    assert '<label for="id_password">' in page
    assert reverse("accounts:password_reset") in page


def test_a_parent_logs_in_from_the_home_page(school_client, school, password):
    from koolivarav.accounts.tests.factories import UserFactory

    UserFactory(school=school, email="mari@example.ee")
    response = school_client.post("/", {"username": "mari maasikas", "password": password})
    assert response.status_code == 302
    assert "_auth_user_id" in school_client.session


def test_a_wrong_password_shows_one_message(school_client, school):
    response = school_client.post("/", {"username": "nobody", "password": "x" * 10})
    assert "Kasutajanimi või salasõna on vale" in response.content.decode()


def test_the_top_bar_offers_logout_by_post_only(school_client, parent):
    school_client.force_login(parent)
    page = school_client.get("/").content.decode()
    assert f'action="{reverse("accounts:logout")}" method="post"' in page
    assert "logi välja" in page
    assert school_client.get(reverse("accounts:logout")).status_code == 405
    school_client.post(reverse("accounts:logout"))
    assert "_auth_user_id" not in school_client.session


def test_the_language_switch_changes_the_page_language(school_client):
    school_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "Log in" in school_client.get("/").content.decode()
