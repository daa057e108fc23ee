import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from koolivarav.accounts.tests.factories import UserFactory
from koolivarav.notifications.services import deliver_due_emails

RESET = reverse("accounts:password_reset")
SENT = reverse("accounts:password_reset_done")


def _post(client, identifier):
    response = client.post(RESET, {"email": identifier})
    deliver_due_emails()  # what the worker does
    return response


def _link(message) -> str:
    return re.search(r"https?://\S+", message.body).group(0)


@pytest.mark.parametrize(
    "identifier", ["mari.maasikas@example.ee", "MARI.maasikas@EXAMPLE.ee", "mari maasikas"]
)
def test_a_parent_gets_a_link_by_email_or_name(school_client, school, password, identifier):
    UserFactory(school=school, email="mari.maasikas@example.ee")
    response = _post(school_client, identifier)
    assert response["Location"] == SENT
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["mari.maasikas@example.ee"]
    assert message.from_email == "Jõgeva Põhikool <robot@ope.ee>"
    assert message.subject == "[Jõgeva Põhikool] Uus salasõna"
    assert _link(message).startswith("https://jpk.example.ee/password-reset/")


def test_an_unknown_person_gets_the_same_answer_and_no_mail(school_client, school):
    UserFactory(school=school, email="mari@example.ee")
    known = school_client.post(RESET, {"email": "mari@example.ee"}, follow=True)
    unknown = school_client.post(RESET, {"email": "nobody@example.ee"}, follow=True)
    deliver_due_emails()
    assert known.status_code == unknown.status_code == 200
    assert known.redirect_chain == unknown.redirect_chain
    assert len(mail.outbox) == 1


def test_another_schools_user_gets_no_link_here(school_client, other_school):
    UserFactory(school=other_school, email="mari@example.ee")
    _post(school_client, "mari@example.ee")
    assert mail.outbox == []


def test_the_link_is_built_from_the_schools_address_not_the_host_header(school, settings):
    settings.ALLOWED_HOSTS = ["jpk.example.ee", "evil.example.com"]
    UserFactory(school=school, email="mari@example.ee")
    _post(Client(HTTP_HOST="evil.example.com"), "mari@example.ee")
    assert "evil" not in mail.outbox[0].body
    assert "https://jpk.example.ee/" in mail.outbox[0].body


def test_opening_the_link_does_not_use_it_up(school_client, school, password):
    UserFactory(school=school, email="mari@example.ee")
    _post(school_client, "mari@example.ee")
    path = _link(mail.outbox[0]).split("jpk.example.ee", 1)[1]
    Client(HTTP_HOST="jpk.example.ee").get(path, follow=True)  # a mail scanner
    page = school_client.get(path, follow=True)
    set_password_url = page.redirect_chain[-1][0]
    response = school_client.post(
        set_password_url,
        {"new_password1": "Uus-pikk-salasõna-42", "new_password2": "Uus-pikk-salasõna-42"},
    )
    assert response["Location"] == reverse("accounts:password_reset_complete")
    again = school_client.get(path, follow=True)
    assert "Seda linki on juba kasutatud" in again.content.decode()


def test_reset_mails_per_person_are_limited_with_the_same_answer(school_client, school, settings):
    limits = {**settings.KOOLIVARAV["RATE_LIMITS"], "password_reset_per_identifier": (2, 3600)}
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "RATE_LIMITS": limits}
    UserFactory(school=school, email="mari@example.ee")
    for _ in range(3):
        assert _post(school_client, "mari@example.ee")["Location"] == SENT
    assert len(mail.outbox) == 2


def test_reset_requests_per_address_are_limited(school_client, school, settings):
    limits = {**settings.KOOLIVARAV["RATE_LIMITS"], "password_reset_per_address": (2, 3600)}
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "RATE_LIMITS": limits}
    for n in range(2):
        school_client.post(RESET, {"email": f"x{n}@example.ee"})
    assert school_client.post(RESET, {"email": "y@example.ee"}).status_code == 429


def test_no_usable_reset_token_is_stored_before_sending(school_client, school):
    from koolivarav.notifications.models import Email

    UserFactory(school=school, email="mari@example.ee")
    school_client.post(RESET, {"email": "mari@example.ee"})
    assert Email.objects.get().context.keys() == {"user_id"}


def test_setting_a_password_from_the_link_ends_the_temporary_state(school_client, school):
    user = UserFactory(school=school, email="mari@example.ee", must_change_password=True)
    _post(school_client, "mari@example.ee")
    path = _link(mail.outbox[0]).split("jpk.example.ee", 1)[1]
    set_url = school_client.get(path, follow=True).redirect_chain[-1][0]
    school_client.post(
        set_url, {"new_password1": "Uus-pikk-salasõna-42", "new_password2": "Uus-pikk-salasõna-42"}
    )
    user.refresh_from_db()
    assert not user.must_change_password
