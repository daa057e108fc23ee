"""Recovery codes for the administrators' second factor (django-otp's static device): ten made
when the authenticator app is set up and shown once; each lets its owner in once instead of the
app's code, under the same back-off; new ones void the old; an operator's reset removes them."""

import logging
import re
import time

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from koolivarav.accounts.models import AuditEntry
from koolivarav.accounts.tests.factories import (
    PASSWORD,
    SchoolAdminFactory,
    log_in_as_administrator,
    totp_code,
)
from koolivarav.accounts.tests.test_views import app_code

QUEUE = reverse("admin:applications_application_changelist")
LOGIN = reverse("admin:login")
VERIFY = reverse("admin:second_factor")
SETUP = reverse("admin:second_factor_setup")
RECOVERY_CODES = reverse("admin:second_factor_recovery_codes")
HOST = "jpk.example.ee"
WRONG_CODE = "This code is not right. Type the code your app shows now; each code works once."
PAUSED = "Too many wrong codes."
CODE_ON_PAGE = re.compile(r"<code>([2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5})</code>")


@pytest.fixture
def secretary(school):
    return SchoolAdminFactory(school=school, email="sekretar@jpk.example.ee")


@pytest.fixture
def clock():
    """Time stands still unless a test moves it on (past the back-off of a wrong code)."""
    with time_machine.travel(time.time(), tick=False) as traveller:
        yield traveller


def _client(**extra) -> Client:
    return Client(HTTP_HOST=HOST, HTTP_ACCEPT_LANGUAGE="en", **extra)


def _password_login(client, user, next_url=QUEUE):
    return client.post(
        f"{LOGIN}?next={next_url}",
        {"username": user.email, "password": PASSWORD, "next": next_url},
        follow=True,
    )


def _set_up(client, user):
    """The first admin login: password, the app set up with its key, then the codes page."""
    page = _password_login(client, user).content.decode()
    key = re.search(r'<code class="second-factor-key">([A-Z2-7 ]+)</code>', page).group(1)
    confirmed = client.post(SETUP, {"code": app_code(key), "next": QUEUE})
    codes_page = client.get(confirmed["Location"])
    return confirmed, codes_page


def _codes_on(response) -> list[str]:
    return CODE_ON_PAGE.findall(response.content.decode())


@pytest.fixture
def codes(secretary) -> list[str]:
    """The secretary's ten recovery codes, as the set-up showed them."""
    _confirmed, page = _set_up(_client(), secretary)
    return _codes_on(page)


def _log_in_with(code, user):
    """Password, then `code` at the second-factor page: the client, and the page's answer."""
    client = _client()
    _password_login(client, user)
    return client, client.post(VERIFY, {"code": code, "next": QUEUE})


def _verified(client) -> bool:
    return client.get(QUEUE).status_code == 200


# --- Shown once ------------------------------------------------------------------------------


def test_setting_up_the_app_shows_ten_codes_once(secretary):
    client = _client()
    confirmed, page = _set_up(client, secretary)
    assert (
        confirmed["Location"] == f"{RECOVERY_CODES}?next=%2Fadmin%2Fapplications%2Fapplication%2F"
    )
    shown = _codes_on(page)
    assert len(shown) == len(set(shown)) == 10
    text = page.content.decode()
    assert "Save these recovery codes somewhere safe" in text
    assert f'<a class="button" href="{QUEUE}">I have saved them, continue</a>' in text
    assert StaticToken.objects.filter(device__user=secretary).count() == 10

    reloaded = client.get(confirmed["Location"])
    assert _codes_on(reloaded) == []
    again = reloaded.content.decode()
    assert "Recovery codes are shown once, when they are made." in again
    assert "You have 10 recovery codes left." in again
    assert f'<form method="post" action="{RECOVERY_CODES}">' in again
    assert 'value="Make new recovery codes"' in again


def test_the_codes_are_stored_only_as_keyed_hashes(secretary, codes, settings, clock):
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert len(stored) == 10
    for code in codes:
        assert code not in stored
        assert code.replace("-", "") not in stored
    # The hash is keyed: under another secret key the codes are unknown ...
    retired = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    _other, response = _log_in_with(codes[0], secretary)
    assert WRONG_CODE in response.content.decode()
    # ... unless the retired key is kept among the fallbacks, as for sessions and reset links.
    settings.SECRET_KEY_FALLBACKS = [retired]
    clock.shift(60)  # past the wrong code's pause
    client, response = _log_in_with(codes[0], secretary)
    assert response.status_code == 302
    assert _verified(client)


def test_the_codes_page_is_never_stored_and_the_codes_never_in_an_address_or_a_log(
    secretary, caplog
):
    client = _client()
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")  # Django's own loggers stop at INFO
    connection.force_debug_cursor = True  # every SQL statement and its parameters logged
    try:
        confirmed, page = _set_up(client, secretary)
        codes = _codes_on(page)
        _other, used = _log_in_with(codes[0], secretary)
        made = client.post(RECOVERY_CODES)
        new_page = client.get(made["Location"])
        codes += _codes_on(new_page)
    finally:
        connection.force_debug_cursor = False
    assert len(codes) == 20
    assert "no-store" in page["Cache-Control"]
    assert "no-store" in new_page["Cache-Control"]
    assert "SELECT" in caplog.text  # the SQL was logged, so its absence below means something
    addresses = [confirmed["Location"], used["Location"], made["Location"]]
    for code in codes:
        for form in (code, code.replace("-", ""), code.lower()):
            assert form not in caplog.text
            assert not any(form in address for address in addresses)


# --- Used once, instead of the app's code ----------------------------------------------------


def test_each_code_works_once(secretary, codes, clock):
    for code in codes:
        client, response = _log_in_with(code, secretary)
        assert response["Location"] == QUEUE
        assert _verified(client)
    for code in (codes[0], codes[-1]):
        clock.shift(60)  # past the pause of the wrong code before
        client, response = _log_in_with(code, secretary)
        assert response.status_code == 200
        assert WRONG_CODE in response.content.decode()
        assert not _verified(client)


@pytest.mark.parametrize("typed", ["{code}", "{lower}", "{bare}", " {bare_spaced} "])
def test_a_code_is_forgiven_lower_case_and_spaces(secretary, codes, typed):
    code = codes[3]
    text = typed.format(
        code=code,
        lower=code.lower(),
        bare=code.replace("-", ""),
        bare_spaced=code.replace("-", " "),
    )
    _unused, response = _log_in_with(text, secretary)
    assert response["Location"] == QUEUE
    assert StaticToken.objects.filter(device__user=secretary).count() == 9


def test_the_app_still_works_beside_the_codes(secretary, codes):
    device = TOTPDevice.objects.get(user=secretary)
    _unused, response = _log_in_with(totp_code(device, offset=1), secretary)
    assert response["Location"] == QUEUE
    assert StaticToken.objects.filter(device__user=secretary).count() == 10


def test_the_verify_page_says_a_recovery_code_works_once(secretary, codes):
    client = _client()
    _password_login(client, secretary)
    page = client.get(VERIFY).content.decode()
    assert 'aria-describedby="id_code_helptext"' in page
    assert "Type one of your recovery codes instead. Each recovery code works once." in page
    assert 'inputmode="numeric"' not in page  # a phone's keyboard must offer letters


@pytest.mark.parametrize("typed", ["ABCDE-FGHI1", "ABCDE-FGH", "12345678", "ÄBCDE-FGHJK"])
def test_something_that_is_no_code_is_refused_next_to_the_field(secretary, codes, typed):
    client, response = _log_in_with(typed, secretary)
    page = response.content.decode()
    assert "Type the six digits your authenticator app shows now, or a recovery code." in page
    assert not _verified(client)


def test_another_persons_code_does_not_work(school, secretary, codes):
    colleague = SchoolAdminFactory(school=school)
    TOTPDevice.objects.create(user=colleague, name="telefon", confirmed=True)
    client, response = _log_in_with(codes[0], colleague)
    assert WRONG_CODE in response.content.decode()
    assert not _verified(client)
    # The secretary's code was not used up by the try.
    client, response = _log_in_with(codes[0], secretary)
    assert _verified(client)


@pytest.mark.parametrize(("wrong", "right"), [("AAAAA-AAAAA", "app"), ("000000", "recovery code")])
def test_a_wrong_code_of_either_kind_slows_down_both(secretary, codes, wrong, right):
    device = TOTPDevice.objects.get(user=secretary)
    client = _client()
    with time_machine.travel(time.time() + 60, tick=False) as traveller:
        _password_login(client, secretary)
        response = client.post(VERIFY, {"code": wrong})
        assert WRONG_CODE in response.content.decode()
        right_code = totp_code(device) if right == "app" else codes[0]
        response = client.post(VERIFY, {"code": right_code})
        assert PAUSED in response.content.decode()
        assert not _verified(client)
        traveller.shift(10)
        assert client.post(VERIFY, {"code": right_code})["Location"] == reverse("admin:index")
    assert _verified(client)
    # The right code freed both kinds.
    assert TOTPDevice.objects.get(user=secretary).throttling_failure_count == 0
    assert StaticDevice.objects.get(user=secretary).throttling_failure_count == 0


def test_wrong_codes_of_both_kinds_add_up_to_one_back_off(secretary, codes, clock):
    """Taking turns with the two kinds buys a guesser nothing: the pause after the third wrong
    code is 4 seconds, as after three wrong codes from the app (1, 2, 4, 8 … seconds)."""
    client = _client()
    _password_login(client, secretary)
    for wrong, pause in (("000000", 1), ("AAAAA-AAAAA", 2), ("000001", 4)):
        assert WRONG_CODE in client.post(VERIFY, {"code": wrong}).content.decode()
        clock.shift(pause + 0.5)
    # 4.5 seconds after the third: free again; at 3.5 seconds it was still paused.
    clock.shift(-1)
    assert PAUSED in client.post(VERIFY, {"code": codes[0]}).content.decode()
    clock.shift(1)
    assert client.post(VERIFY, {"code": codes[0]})["Location"] == reverse("admin:index")


# --- How many are left -----------------------------------------------------------------------


def test_a_login_with_a_code_says_how_many_are_left(secretary, codes):
    client, response = _log_in_with(codes[0], secretary)
    page = client.get(response["Location"]).content.decode()
    assert "You logged in with a recovery code; it no longer works. 9 recovery codes left." in page
    assert "Make new recovery codes" not in page


def test_with_three_or_fewer_left_the_admin_asks_for_new_ones(secretary, codes):
    for code in codes[:6]:
        client, response = _log_in_with(code, secretary)
    page = client.get(response["Location"]).content.decode()
    assert '<li class="info">You logged in with a recovery code; it no longer works. ' in page
    client, response = _log_in_with(codes[6], secretary)
    page = client.get(response["Location"]).content.decode()
    assert (
        '<li class="warning">You logged in with a recovery code; it no longer works. '
        f'3 recovery codes left. <a href="{RECOVERY_CODES}">Make new recovery codes</a></li>'
    ) in page
    # At every login, with the app's code too.
    app = TOTPDevice.objects.get(user=secretary)
    client, response = _log_in_with(totp_code(app, offset=1), secretary)
    page = client.get(response["Location"]).content.decode()
    assert (
        f'<li class="warning">3 recovery codes left. <a href="{RECOVERY_CODES}">'
        "Make new recovery codes</a></li>"
    ) in page


def test_an_administrator_with_no_codes_is_asked_to_make_them(secretary):
    device = TOTPDevice.objects.create(user=secretary, name="telefon", confirmed=True)
    client = _client()
    _password_login(client, secretary)
    response = client.post(VERIFY, {"code": totp_code(device)})
    page = client.get(response["Location"]).content.decode()
    assert "You have no recovery codes left." in page
    assert f'<a href="{RECOVERY_CODES}">Make new recovery codes</a>' in page


# --- New codes -------------------------------------------------------------------------------


def test_the_user_tools_lead_to_the_codes(secretary, codes):
    client, _response = _log_in_with(codes[0], secretary)
    page = client.get(QUEUE).content.decode()
    assert f'<a href="{RECOVERY_CODES}">Recovery codes</a>' in page


def test_new_codes_void_the_old_ones(secretary, codes, clock):
    client, _response = _log_in_with(codes[0], secretary)
    made = client.post(RECOVERY_CODES, {"next": QUEUE})
    assert made["Location"] == f"{RECOVERY_CODES}?next=%2Fadmin%2Fapplications%2Fapplication%2F"
    new_codes = _codes_on(client.get(made["Location"]))
    assert len(new_codes) == 10
    assert not set(new_codes) & set(codes)
    assert _verified(client)  # the session the old code verified goes on
    assert WRONG_CODE in _log_in_with(codes[1], secretary)[1].content.decode()
    clock.shift(60)  # past the wrong code's pause
    assert _log_in_with(new_codes[1], secretary)[1]["Location"] == QUEUE


def test_new_codes_only_by_post_with_the_csrf_token(secretary, codes):
    verified, _response = _log_in_with(codes[0], secretary)
    client = _client(enforce_csrf_checks=True)
    client.cookies = verified.cookies
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert client.post(RECOVERY_CODES).status_code == 403
    page = client.get(RECOVERY_CODES)
    assert _codes_on(page) == []
    assert set(StaticToken.objects.values_list("token", flat=True)) == stored
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    made = client.post(RECOVERY_CODES, {"csrfmiddlewaretoken": token.group(1)})
    assert len(_codes_on(client.get(made["Location"]))) == 10
    assert not set(StaticToken.objects.values_list("token", flat=True)) & stored


def test_new_codes_are_for_a_verified_administrator_only(school, secretary, codes, parent):
    password_only = _client()
    _password_login(password_only, secretary)
    response = password_only.post(RECOVERY_CODES)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    anonymous = _client()
    assert anonymous.get(RECOVERY_CODES)["Location"].startswith(LOGIN)
    as_parent = _client()
    as_parent.force_login(parent)
    assert as_parent.post(RECOVERY_CODES)["Location"].startswith(LOGIN)
    assert AuditEntry.objects.filter(action=AuditEntry.Action.RECOVERY_CODES_MADE).count() == 1
    assert not StaticDevice.objects.filter(user=parent).exists()


# --- Reset and audit -------------------------------------------------------------------------


def test_the_operators_reset_removes_the_codes(secretary, codes, operator):
    operator_client = log_in_as_administrator(_client(), operator)
    operator_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reset_second_factor", "_selected_action": [secretary.pk]},
    )
    assert not StaticDevice.objects.filter(user=secretary).exists()
    assert not StaticToken.objects.exists()
    client, response = _log_in_with(codes[0], secretary)
    assert response["Location"].startswith(SETUP)  # a new app first; the code counts for nothing
    assert not _verified(client)


def test_a_session_verified_by_a_code_ends_with_the_reset(secretary, codes, operator):
    client, _response = _log_in_with(codes[0], secretary)
    assert _verified(client)
    operator_client = log_in_as_administrator(_client(), operator)
    operator_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reset_second_factor", "_selected_action": [secretary.pk]},
    )
    assert not _verified(client)


def test_making_and_using_codes_is_in_the_audit_trail(school, secretary, codes):
    client, _response = _log_in_with(codes[0], secretary)
    client.post(RECOVERY_CODES)
    entries = AuditEntry.objects.filter(actor=secretary).order_by("at", "pk")
    assert [(e.action, e.after, e.school_id, e.target) for e in entries] == [
        (AuditEntry.Action.SECOND_FACTOR_ENROLLED, "", school.pk, "Kooli Administraator"),
        (AuditEntry.Action.RECOVERY_CODES_MADE, "10", school.pk, "Kooli Administraator"),
        (AuditEntry.Action.RECOVERY_CODE_USED, "9", school.pk, "Kooli Administraator"),
        (AuditEntry.Action.RECOVERY_CODES_MADE, "10", school.pk, "Kooli Administraator"),
    ]
    assert codes[0] not in str(list(entries.values()))


def test_a_wrong_code_is_not_in_the_audit_trail(secretary, codes):
    _log_in_with("AAAAA-AAAAA", secretary)
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.RECOVERY_CODE_USED).exists()
