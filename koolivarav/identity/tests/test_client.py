"""Every check of the ID token, each refusal its own test: nothing is created, nobody is logged
in, and the person reads why in their language. The provider is a real server on 127.0.0.1."""

import logging
import time

import pytest
import requests
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from koolivarav.accounts.models import User
from koolivarav.accounts.tests.factories import UserFactory
from koolivarav.applications.models import Application
from koolivarav.applications.verified import VERIFIED_KEY
from koolivarav.identity.client import IdentityError

from .conftest import (
    PARENT_CODE,
    SECRET,
    STRANGER_CODE,
    authorize_url,
    callback_path,
    query_of,
    through_provider,
)

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def assert_refused(visitor, response, reason: str) -> None:
    assert response.status_code == 302
    assert response["Location"] == "/"
    with translation.override("et"):
        expected = IdentityError(reason).message
    assert expected in messages_of(response)
    assert "_auth_user_id" not in visitor.session
    assert VERIFIED_KEY not in visitor.session
    assert not Application.objects.exists()
    assert (
        not User.objects.filter(id_code__in=[PARENT_CODE, STRANGER_CODE])
        .exclude(email="olemas@example.ee")
        .exists()
    )


@pytest.fixture
def known_parent(school):
    return UserFactory(school=school, id_code=PARENT_CODE, email="olemas@example.ee")


# --- The request ---------------------------------------------------------------------------


def test_the_authorization_request_is_tara_s(visitor, tara, school):
    school.tara_level = "high"
    school.save()
    visitor.cookies["django_language"] = "ru"
    url = authorize_url(visitor)
    query = query_of(url)
    assert url.startswith(f"{tara.issuer}/oidc/authorize?")
    assert query["response_type"] == "code"
    assert query["scope"] == "openid"
    assert query["client_id"] == "tara-client"
    assert query["redirect_uri"] == "http://jpk.example.ee/identity/tara/callback/"
    assert len(query["state"]) >= 8
    assert len(query["nonce"]) >= 8
    assert query["ui_locales"] == "ru"
    assert query["acr_values"] == "high"


def test_start_is_post_only_and_needs_the_csrf_token(tara, school):
    from django.test import Client

    from koolivarav.conftest import host_of

    strict = Client(HTTP_HOST=host_of(school), enforce_csrf_checks=True)
    assert strict.get("/identity/tara/start/").status_code == 405
    assert strict.post("/identity/tara/start/", {"purpose": "login"}).status_code == 403


def test_a_provider_the_school_does_not_offer_is_not_found(visitor, tara, school):
    school.tara_login = False
    school.save()
    assert visitor.post("/identity/tara/start/").status_code == 404
    assert visitor.post("/identity/harid/start/").status_code == 404
    assert visitor.get("/identity/tara/callback/?code=x&state=y").status_code == 404


# --- Success -------------------------------------------------------------------------------


def test_a_known_parent_is_logged_in(visitor, tara, known_parent):
    response = through_provider(visitor)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert visitor.session["_auth_user_id"] == str(known_parent.pk)
    page = visitor.get("/")
    assert "Mari" in page.content.decode()


def test_a_temporary_password_is_no_longer_needed_nor_usable(visitor, tara, known_parent):
    known_parent.must_change_password = True
    known_parent.set_password("ajutine-parool-123")
    known_parent.save()
    through_provider(visitor)
    known_parent.refresh_from_db()
    assert not known_parent.must_change_password
    assert not known_parent.has_usable_password()
    # Not sent to the profile to change it: the home page with the children.
    assert visitor.get("/").status_code == 200


def test_names_come_in_proper_case(visitor, tara, school):
    through_provider(visitor)  # no account: on to the application, filled in
    page = visitor.get("/apply/").content.decode()
    assert 'value="Mari-Liis"' in page
    assert 'value="Maasikas"' in page


def test_a_deactivated_account_is_not_logged_in(visitor, tara, known_parent):
    known_parent.is_active = False
    known_parent.save()
    through_provider(visitor)
    assert "_auth_user_id" not in visitor.session


def test_an_account_at_another_school_is_not_logged_in(visitor, tara, other_school):
    UserFactory(school=other_school, id_code=PARENT_CODE)
    response = through_provider(visitor)
    assert response["Location"] == "/apply/"
    assert "_auth_user_id" not in visitor.session


def test_an_unknown_key_id_fetches_the_keys_again(visitor, tara, known_parent):
    through_provider(visitor)
    visitor.post("/logout/")
    assert tara.requests_seen["jwks"] == 1
    tara.rotate_keys()
    through_provider(visitor)
    assert visitor.session["_auth_user_id"] == str(known_parent.pk)
    assert tara.requests_seen["jwks"] == 2
    assert tara.requests_seen["discovery"] == 1


# --- Refusals: each ends with nothing created ------------------------------------------------


@pytest.mark.parametrize(
    "override",
    [
        pytest.param({"iss": "https://tara.ria.ee"}, id="wrong-iss"),
        pytest.param({"aud": "another-client"}, id="wrong-aud"),
        pytest.param({"nonce": "not-the-one-sent"}, id="nonce-mismatch"),
        pytest.param({"nonce": None}, id="nonce-missing"),
        pytest.param({"exp": int(time.time()) - 60, "iat": int(time.time()) - 100}, id="expired"),
        pytest.param({"iat": None}, id="iat-missing"),
        pytest.param({"sub": None}, id="sub-missing"),
    ],
)
def test_a_token_with_a_wrong_claim_is_refused(visitor, tara, known_parent, override):
    tara.claims_override = override
    response = through_provider(visitor)
    assert_refused(visitor, response, IdentityError.FAILED)


def test_an_expired_token_within_the_allowed_skew_is_accepted(visitor, tara, known_parent):
    now = int(time.time())
    tara.claims_override = {"iat": now - 45, "nbf": now - 45, "exp": now - 5}
    through_provider(visitor)
    assert visitor.session["_auth_user_id"] == str(known_parent.pk)


def test_a_bad_signature_is_refused(visitor, tara, known_parent):
    tara.sign_with = "stranger"
    assert_refused(visitor, through_provider(visitor), IdentityError.FAILED)


def test_an_unknown_key_id_is_refused(visitor, tara, known_parent):
    tara.sign_with = "unknown_kid"
    assert_refused(visitor, through_provider(visitor), IdentityError.FAILED)
    assert tara.requests_seen["jwks"] == 2  # fetched again before giving up


def test_a_state_this_browser_did_not_start_is_refused(visitor, tara, school):
    url = authorize_url(visitor)
    answer = requests.get(url, allow_redirects=False, timeout=10)
    query = query_of(answer.headers["Location"])
    response = visitor.get(f"/identity/tara/callback/?code={query['code']}&state=another-state-123")
    assert_refused(visitor, response, IdentityError.FAILED)
    assert tara.requests_seen["token"] == 0


def test_a_missing_state_is_refused(visitor, tara, school):
    url = authorize_url(visitor)
    answer = requests.get(url, allow_redirects=False, timeout=10)
    code = query_of(answer.headers["Location"])["code"]
    assert_refused(visitor, visitor.get(f"/identity/tara/callback/?code={code}"), "failed")
    assert tara.requests_seen["token"] == 0


def test_another_browser_cannot_use_the_answer(visitor, tara, school):
    """A callback link sent to someone else (login CSRF): their session started no flow."""
    from django.test import Client

    from koolivarav.conftest import host_of

    url = authorize_url(visitor)
    answer = requests.get(url, allow_redirects=False, timeout=10)
    victim = Client(HTTP_HOST=host_of(school))
    response = victim.get(callback_path(answer.headers["Location"]))
    assert_refused(victim, response, IdentityError.FAILED)


def test_a_state_is_accepted_once(visitor, tara, known_parent):
    url = authorize_url(visitor)
    answer = requests.get(url, allow_redirects=False, timeout=10)
    path = callback_path(answer.headers["Location"])
    assert visitor.get(path)["Location"] == "/"
    visitor.post("/logout/")
    again = visitor.get(path)
    assert_refused(visitor, again, IdentityError.FAILED)


def test_a_code_is_accepted_once(visitor, tara, known_parent):
    first = query_of(
        requests.get(authorize_url(visitor), allow_redirects=False, timeout=10).headers["Location"]
    )
    visitor.get(f"/identity/tara/callback/?code={first['code']}&state={first['state']}")
    visitor.post("/logout/")
    # A new flow of this visitor, answered with the code already used.
    second = query_of(authorize_url(visitor))
    response = visitor.get(f"/identity/tara/callback/?code={first['code']}&state={second['state']}")
    assert_refused(visitor, response, IdentityError.FAILED)


def test_a_method_the_school_does_not_accept_is_refused(visitor, tara, known_parent, school):
    school.tara_methods = ["idcard"]
    school.save()
    assert_refused(visitor, through_provider(visitor), IdentityError.METHOD)


def test_eidas_is_refused_unless_accepted(visitor, tara, known_parent):
    tara.claims_override = {"amr": ["eIDAS"]}
    assert_refused(visitor, through_provider(visitor), IdentityError.METHOD)


def test_a_level_below_the_school_s_is_refused(visitor, tara, known_parent):
    tara.claims_override = {"acr": "low"}
    assert_refused(visitor, through_provider(visitor), IdentityError.LEVEL)


@pytest.mark.parametrize(
    "sub",
    [
        pytest.param("EE48405172710", id="bad-check-digit"),
        pytest.param("LV48405172715", id="another-country"),
        pytest.param("EE4840517271", id="too-short"),
        pytest.param("EE99913010000", id="no-such-date"),
    ],
)
def test_a_subject_that_is_not_an_estonian_code_is_refused(visitor, tara, known_parent, sub):
    tara.claims_override = {"sub": sub}
    assert_refused(visitor, through_provider(visitor), IdentityError.NOT_ESTONIAN)


def test_the_person_cancelling(visitor, tara, known_parent):
    tara.auto_cancel = True
    tara.auto_choice = None
    assert_refused(visitor, through_provider(visitor), IdentityError.CANCELLED)
    assert tara.requests_seen["token"] == 0


def test_another_error_from_the_provider(visitor, tara, known_parent):
    query = query_of(authorize_url(visitor))
    response = visitor.get(f"/identity/tara/callback/?error=invalid_request&state={query['state']}")
    assert_refused(visitor, response, IdentityError.FAILED)


def test_a_provider_that_hangs_times_out(visitor, tara, known_parent, settings):
    settings.IDENTITY_TIMEOUT_SECONDS = 0.5
    tara.token_delay_seconds = 20
    started = time.monotonic()
    response = through_provider(visitor)
    assert time.monotonic() - started < 15  # the timeout, not the provider's 20 s
    assert_refused(visitor, response, IdentityError.UNAVAILABLE)


def test_a_provider_that_is_down(visitor, tara, known_parent):
    tara.stop()
    response = visitor.post("/identity/tara/start/", {"purpose": "login"})
    assert_refused(visitor, response, IdentityError.UNAVAILABLE)


def test_the_client_secret_and_id_codes_stay_out_of_logs_and_urls(
    visitor, tara, known_parent, caplog
):
    caplog.set_level(logging.DEBUG)
    response = through_provider(visitor)
    tara.claims_override = {"sub": "EE48405172710"}
    visitor.post("/logout/")
    refused = through_provider(visitor)
    for answer in (response, refused):
        assert PARENT_CODE not in answer["Location"]
    assert SECRET not in caplog.text
    assert PARENT_CODE not in caplog.text
    assert "48405172710" not in caplog.text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["code", "state", "error", "error_description", "x"]),
        st.text(max_size=300),
        max_size=5,
    )
)
def test_any_callback_query_is_answered_without_an_error(visitor, tara, known_parent, params):
    """Whatever comes back to the callback: a message and the home page, never a 500."""
    cache.clear()  # the rate limit's counters: each example is a visitor of its own
    authorize_url(visitor)  # a flow of this browser, so that a guessed state would matter
    response = visitor.get("/identity/tara/callback/", params)
    assert response.status_code in (302, 400, 429)
    assert "_auth_user_id" not in visitor.session
