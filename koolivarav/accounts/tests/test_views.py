import re

from django.urls import reverse

from koolivarav.accounts.tests.factories import log_in_as_administrator


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


def test_an_operator_makes_a_school_administrator_who_can_then_log_in(
    school, operator, smtp_server
):
    from django.test import Client

    from koolivarav.accounts.models import User
    from koolivarav.notifications.services import deliver_due_emails

    client = Client(HTTP_HOST="jpk.example.ee")
    log_in_as_administrator(client, operator)
    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "sekretar@jpk.example.ee",
            "first_name": "Sille",
            "last_name": "Sekretär",
            "school": school.pk,
            "role": "school_admin",
            "phone": "",
            "address": "",
            "language": "et",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    secretary = User.objects.get(email="sekretar@jpk.example.ee")
    assert secretary.is_staff
    assert not secretary.has_usable_password()
    client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "resend_login_details", "_selected_action": [secretary.pk]},
    )
    deliver_due_emails()
    body = smtp_server.messages[-1].get_body(("plain",)).get_content()
    password = re.search(r"Ajutine salasõna on: ([0-9a-f]{8})", body).group(1)
    admin_client = Client(HTTP_HOST="jpk.example.ee")
    admin_client.post(
        reverse("admin:login"), {"username": "sekretar@jpk.example.ee", "password": password}
    )
    queue = reverse("admin:applications_application_changelist")
    assert admin_client.get(queue)["Location"] == reverse("accounts:profile")  # own password first
    admin_client.post(
        reverse("accounts:profile"),
        {"password1": "Sekretäri-oma-salasõna", "password2": "Sekretäri-oma-salasõna"},
    )
    # Then the authenticator app: set up at this first admin login, from the key on the page.
    response = admin_client.get(queue, follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("admin:second_factor_setup"))
    page = response.content.decode()
    key = re.search(r'<code class="second-factor-key">([A-Z2-7 ]+)</code>', page).group(1)
    code = app_code(key)
    response = admin_client.post(response.redirect_chain[-1][0], {"code": code})
    assert response.status_code == 302
    assert admin_client.get(queue).status_code == 200


def app_code(key: str, drift: int = 0) -> str:
    """What an authenticator app shows for a key typed in by hand (RFC 6238, 30 s, 6 digits);
    drift: that many 30-second steps later."""
    from base64 import b32decode

    from django_otp.oath import totp

    secret = key.replace(" ", "")
    secret += "=" * (-len(secret) % 8)
    return f"{totp(b32decode(secret), drift=drift):06d}"
