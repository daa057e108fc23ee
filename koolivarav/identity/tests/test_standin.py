"""The stand-in identity provider behaves as TARA's technical specification says (and HarID as
far as the client needs), over real HTTP; its tokens are checked with joserfc against its JWKS."""

import base64
import hashlib
import json
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
import requests
from django.core.management import CommandError, call_command
from joserfc import errors, jwt
from joserfc.jwk import KeySet

from koolivarav.identity.standin import Person, StandInProvider

CLIENT_ID = "koolivarav-test"
SECRET = "s3cret:with+plus%25"  # as Authlib and requests send it, raw in Basic auth
CALLBACK = "http://school.example:8000/identity/callback?next=%2Fhome"
MARI = Person("48405172715", "MARI", "MAASIKAS")
JAAN = Person("37901230223", "JAAN", "KUUSK-MÖLDER")


@pytest.fixture
def tara():
    with StandInProvider(
        client_id=CLIENT_ID, client_secret=SECRET, people=[MARI, JAAN]
    ) as provider:
        yield provider


@pytest.fixture(scope="module")
def pages():
    """One provider for the tests that only open pages: they turn no knob and spend no code."""
    with StandInProvider(
        client_id=CLIENT_ID, client_secret=SECRET, people=[MARI, JAAN]
    ) as provider:
        yield provider


@pytest.fixture
def harid():
    with StandInProvider(
        flavour="harid", client_id=CLIENT_ID, client_secret=SECRET, people=[MARI, JAAN]
    ) as provider:
        yield provider


def authorization(**changes):
    params = {
        "response_type": "code",
        "scope": "openid",
        "client_id": CLIENT_ID,
        "redirect_uri": CALLBACK,
        "state": "state-1234567890",
        "nonce": "nonce-abc",
    }
    params.update(changes)
    return {name: value for name, value in params.items() if value is not None}


def open_page(provider, **changes):
    return requests.get(
        f"{provider.issuer}/oidc/authorize", params=authorization(**changes), timeout=5
    )


def choose(provider, person=MARI, method="idcard", action="continue", **changes):
    form = {
        **authorization(**changes),
        "person": person.id_code,
        "method": method,
        "action": action,
    }
    return requests.post(
        f"{provider.issuer}/oidc/authorize", data=form, allow_redirects=False, timeout=5
    )


def answer(response):
    """The parameters the provider sends back to the client's redirect URI."""
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK.split("?")[0]
    return {name: values[0] for name, values in parse_qs(location.query).items()}


def exchange(provider, code, redirect_uri=CALLBACK, auth=(CLIENT_ID, SECRET), **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, **extra}
    return requests.post(f"{provider.issuer}/oidc/token", data=data, auth=auth, timeout=5)


def log_in(provider, **choice):
    """The token endpoint's answer for a person who chose on the page."""
    response = exchange(provider, answer(choose(provider, **choice))["code"])
    assert response.status_code == 200, response.text
    return response.json()


def jwks(provider):
    return requests.get(f"{provider.issuer}/oidc/jwks", timeout=5).json()


def header_of(id_token):
    encoded = id_token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def verified(provider, id_token):
    return jwt.decode(id_token, KeySet.import_key_set(jwks(provider)))


# Discovery and keys


def test_discovery_names_the_endpoints_under_the_issuer(tara):
    document = requests.get(f"{tara.issuer}/.well-known/openid-configuration", timeout=5).json()

    assert tara.issuer.startswith("http://127.0.0.1:")
    assert not tara.issuer.endswith("/")
    assert document["issuer"] == tara.issuer
    assert document["authorization_endpoint"] == f"{tara.issuer}/oidc/authorize"
    assert document["token_endpoint"] == f"{tara.issuer}/oidc/token"
    assert document["jwks_uri"] == f"{tara.issuer}/oidc/jwks"
    assert document["response_types_supported"] == ["code"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    assert {"openid", "idcard", "mid", "smartid", "eidas"} <= set(document["scopes_supported"])
    assert tara.requests_seen["discovery"] == 1


def test_jwks_publishes_the_public_signing_key_only(tara):
    (key,) = jwks(tara)["keys"]

    assert key["kty"] == "RSA"
    assert key["use"] == "sig"
    assert key["alg"] == "RS256"
    assert key["kid"]
    assert "d" not in key  # no private part


# The page


def test_page_lists_the_people_in_proper_case_with_their_id_codes(pages):
    page = open_page(pages)

    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Mari Maasikas, isikukood 48405172715" in page.text
    assert "Jaan Kuusk-Mölder, isikukood 37901230223" in page.text
    assert 'name="person" value="48405172715" checked' in page.text
    assert "mitte päris TARA" in page.text
    assert '<p lang="en">Demo: this stands in for TARA' in page.text


def test_page_escapes_what_the_request_carries(pages):
    page = open_page(pages, state='"><script>alert(1)</script>', nonce="<b>")

    assert "<script>" not in page.text
    assert "<b>" not in page.text
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page.text


def test_page_carries_the_request_in_hidden_fields(pages):
    page = open_page(pages, ui_locales="en")

    assert '<form method="post" action="/oidc/authorize">' in page.text
    for name, value in authorization(ui_locales="en").items():
        assert f'<input type="hidden" name="{name}" value="{value}">' in page.text.replace(
            "&amp;", "&"
        )


@pytest.mark.parametrize(
    ("ui_locales", "heading", "language"),
    [
        (None, "Vali, kellena sisse logid", "et"),
        ("et", "Vali, kellena sisse logid", "et"),
        ("en", "Choose who you log in as", "en"),
        ("ru et", "Choose who you log in as", "en"),
    ],
)
def test_page_language_follows_ui_locales(pages, ui_locales, heading, language):
    page = open_page(pages, ui_locales=ui_locales)

    assert f'<html lang="{language}">' in page.text
    assert f"<h1>{heading}</h1>" in page.text


@pytest.mark.parametrize(
    ("scope", "offered"),
    [
        ("openid", ["idcard", "mID", "smartid"]),
        ("openid mid", ["mID"]),
        ("openid idcard smartid", ["idcard", "smartid"]),
        ("openid eidasonly", ["eIDAS"]),
    ],
)
def test_page_offers_the_methods_the_scopes_ask_for(pages, scope, offered):
    page = open_page(pages, scope=scope)

    shown = [amr for amr in ["idcard", "mID", "smartid", "eIDAS"] if f'value="{amr}"' in page.text]
    assert shown == offered


def test_harid_page_names_harid_and_offers_no_method(harid):
    page = open_page(harid, scope="openid personal_code")

    assert "HarIDi asendaja" in page.text
    assert 'name="method"' not in page.text
    assert "Mari Maasikas" in page.text


@pytest.mark.parametrize(
    "changes",
    [
        {"response_type": None},
        {"response_type": "token"},
        {"scope": "idcard"},
        {"client_id": "someone-else"},
        {"redirect_uri": None},
        {"redirect_uri": "/identity/callback"},
        {"redirect_uri": "javascript:alert(1)//x"},
        {"redirect_uri": CALLBACK + "#fragment"},
        {"state": None},
        {"state": "1234567"},
        {"acr_values": "highest"},
    ],
)
def test_bad_authorization_request_gets_an_error_page_not_a_redirect(pages, changes):
    page = requests.get(
        f"{pages.issuer}/oidc/authorize",
        params=authorization(**changes),
        allow_redirects=False,
        timeout=5,
    )

    assert page.status_code == 400
    assert "Location" not in page.headers
    assert "Bad request" in page.text


def test_a_repeated_parameter_is_a_bad_request(pages):
    url = f"{pages.issuer}/oidc/authorize?" + "&".join(
        f"{name}={value}" for name, value in authorization().items()
    )
    page = requests.get(url + "&state=another-state-value", allow_redirects=False, timeout=5)

    assert page.status_code == 400


def test_an_unknown_tara_scope_goes_back_as_invalid_scope(pages):
    response = requests.get(
        f"{pages.issuer}/oidc/authorize",
        params=authorization(scope="openid profile"),
        allow_redirects=False,
        timeout=5,
    )

    assert answer(response)["error"] == "invalid_scope"
    assert answer(response)["state"] == "state-1234567890"


# Coming back to the client


def test_continue_sends_a_code_and_the_state_to_the_redirect_uri(tara):
    back = answer(choose(tara))

    assert set(back) == {"next", "code", "state"}
    assert back["next"] == "/home"  # the redirect URI's own query is kept
    assert back["state"] == "state-1234567890"
    assert len(back["code"]) >= 20


def test_cancel_sends_user_cancel_and_the_state(tara):
    back = answer(choose(tara, action="cancel"))

    assert back["error"] == "user_cancel"
    assert back["error_description"]
    assert back["state"] == "state-1234567890"
    assert "code" not in back


@pytest.mark.parametrize(
    ("person", "method"), [(Person("39912310000", "X", "Y"), "idcard"), (MARI, "smartid")]
)
def test_a_choice_the_page_did_not_offer_is_refused(tara, person, method):
    response = choose(tara, person=person, method=method, scope="openid idcard")

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_choosing_repeats_the_checks_of_the_request(tara):
    response = choose(tara, client_id="someone-else")

    assert response.status_code == 400
    assert "Location" not in response.headers


# The token endpoint


@pytest.mark.parametrize(
    ("auth", "extra"),
    [
        (None, {}),
        ((CLIENT_ID, "wrong"), {}),
        (("someone-else", SECRET), {}),
        (None, {"client_id": CLIENT_ID, "client_secret": SECRET}),  # client_secret_post
    ],
)
def test_the_token_endpoint_requires_the_client_secret_in_basic_auth(tara, auth, extra):
    code = answer(choose(tara))["code"]

    response = exchange(tara, code, auth=auth, **extra)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_basic_auth_may_form_encode_the_secret_as_rfc_6749_says(tara):
    code = answer(choose(tara))["code"]
    credentials = base64.b64encode(f"{CLIENT_ID}:{quote_plus(SECRET)}".encode()).decode()

    response = requests.post(
        f"{tara.issuer}/oidc/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        headers={"Authorization": f"Basic {credentials}"},
        timeout=5,
    )

    assert response.status_code == 200


def test_a_code_is_accepted_once(tara):
    code = answer(choose(tara))["code"]

    first = exchange(tara, code)
    second = exchange(tara, code)

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"


def test_a_code_older_than_its_lifetime_is_refused(tara):
    assert tara.code_lifetime_seconds == 30  # TARA's
    tara.code_lifetime_seconds = 0
    code = answer(choose(tara))["code"]

    response = exchange(tara, code)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "Code expired"}


def test_a_code_for_another_redirect_uri_is_refused(tara):
    code = answer(choose(tara))["code"]

    response = exchange(tara, code, redirect_uri="http://school.example:8000/identity/callback")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_an_unknown_code_and_another_grant_type_are_refused(tara):
    assert exchange(tara, "made-up").json()["error"] == "invalid_grant"
    code = answer(choose(tara))["code"]
    assert exchange(tara, code, grant_type="password").json()["error"] == "unsupported_grant_type"


def test_the_token_answer_is_not_to_be_stored(tara):
    code = answer(choose(tara))["code"]

    response = exchange(tara, code)

    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert set(response.json()) == {"access_token", "token_type", "expires_in", "id_token"}
    assert response.json()["token_type"] == "bearer"


# The ID token


def test_the_tara_id_token_verifies_against_the_jwks_with_tara_claims(tara):
    tokens = log_in(tara, person=MARI, method="mID", scope="openid mid")

    token = verified(tara, tokens["id_token"])

    assert token.header["alg"] == "RS256"
    assert token.header["typ"] == "JWT"
    assert token.header["kid"] in [key["kid"] for key in jwks(tara)["keys"]]
    claims = token.claims
    assert claims["iss"] == tara.issuer
    assert claims["aud"] == CLIENT_ID  # a string, not a list
    assert claims["exp"] - claims["iat"] == 40
    assert claims["nbf"] == claims["iat"]
    assert claims["sub"] == "EE48405172715"
    assert claims["profile_attributes"] == {
        "date_of_birth": "1984-05-17",
        "given_name": "MARI",
        "family_name": "MAASIKAS",
    }
    assert claims["amr"] == ["mID"]
    assert claims["acr"] == "substantial"
    assert claims["nonce"] == "nonce-abc"
    assert claims["state"] == "state-1234567890"
    assert claims["jti"]
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_the_id_token_carries_the_requested_level_and_no_nonce_unless_asked(tara):
    tokens = log_in(tara, acr_values="high", nonce=None)

    claims = verified(tara, tokens["id_token"]).claims

    assert claims["acr"] == "high"
    assert "nonce" not in claims


def test_the_harid_id_token_has_an_opaque_subject_and_names_in_proper_case(harid):
    tokens = log_in(harid, person=JAAN, method=None, scope="openid personal_code")

    claims = verified(harid, tokens["id_token"]).claims

    assert "37901230223" not in claims["sub"]
    assert claims["given_name"] == "Jaan"
    assert claims["family_name"] == "Kuusk-Mölder"
    assert claims["personal_code"] == "EE:EID:37901230223"
    assert claims["aud"] == CLIENT_ID
    assert claims["exp"] - claims["iat"] == 40
    assert not {"profile_attributes", "amr", "acr"} & set(claims)


def test_harid_sends_the_personal_code_only_when_asked_and_the_same_subject_every_time(harid):
    first = verified(harid, log_in(harid, person=MARI, method=None)["id_token"]).claims
    with StandInProvider(
        flavour="harid", client_id=CLIENT_ID, client_secret=SECRET, people=[MARI]
    ) as again:
        second = verified(again, log_in(again, person=MARI, method=None)["id_token"]).claims

    assert "personal_code" not in first
    assert first["sub"] == second["sub"]


# The knobs


def test_claims_override_replaces_and_removes_claims(tara):
    tara.claims_override = {"aud": ["a", "b"], "amr": ["x"], "nonce": None}

    claims = verified(tara, log_in(tara)["id_token"]).claims

    assert claims["aud"] == ["a", "b"]
    assert claims["amr"] == ["x"]
    assert "nonce" not in claims


def test_a_strangers_signature_under_the_current_kid_fails_verification(tara):
    tara.sign_with = "stranger"

    id_token = log_in(tara)["id_token"]

    assert header_of(id_token)["kid"] == jwks(tara)["keys"][0]["kid"]
    with pytest.raises(errors.BadSignatureError):
        verified(tara, id_token)


def test_a_token_signed_under_an_unknown_kid_matches_no_published_key(tara):
    tara.sign_with = "unknown_kid"

    id_token = log_in(tara)["id_token"]

    assert header_of(id_token)["kid"] not in [key["kid"] for key in jwks(tara)["keys"]]
    with pytest.raises(errors.InvalidKeyIdError):
        verified(tara, id_token)


def test_rotated_keys_sign_with_the_new_key_and_keep_the_old_one_published(tara):
    old_token = log_in(tara)["id_token"]
    (old_key,) = jwks(tara)["keys"]

    tara.rotate_keys()
    new_token = log_in(tara)["id_token"]

    kids = [key["kid"] for key in jwks(tara)["keys"]]
    assert len(kids) == 2
    assert old_key["kid"] in kids
    assert header_of(new_token)["kid"] not in (old_key["kid"], None)
    assert verified(tara, old_token).claims["sub"] == verified(tara, new_token).claims["sub"]


def test_token_delay_makes_the_token_endpoint_hang(tara):
    tara.token_delay_seconds = 5
    code = answer(choose(tara))["code"]

    with pytest.raises(requests.Timeout):
        requests.post(
            f"{tara.issuer}/oidc/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
            auth=(CLIENT_ID, SECRET),
            timeout=0.3,
        )


def test_auto_choice_redirects_at_once_as_that_person_with_that_method(tara):
    tara.auto_choice = (JAAN.id_code, "eIDAS")

    response = requests.get(
        f"{tara.issuer}/oidc/authorize", params=authorization(), allow_redirects=False, timeout=5
    )
    tokens = exchange(tara, answer(response)["code"]).json()

    claims = verified(tara, tokens["id_token"]).claims
    assert claims["sub"] == "EE37901230223"
    assert claims["amr"] == ["eIDAS"]


def test_auto_choice_still_refuses_a_bad_request(tara):
    tara.auto_choice = (MARI.id_code, "idcard")

    assert open_page(tara, client_id="someone-else").status_code == 400


def test_auto_cancel_redirects_at_once_with_user_cancel(tara):
    tara.auto_cancel = True

    response = requests.get(
        f"{tara.issuer}/oidc/authorize", params=authorization(), allow_redirects=False, timeout=5
    )

    assert answer(response)["error"] == "user_cancel"


def test_requests_seen_counts_each_endpoint(tara):
    log_in(tara)
    jwks(tara)
    open_page(tara)

    assert tara.requests_seen == {"authorize": 2, "token": 1, "jwks": 1}


# The demo's command


def test_the_command_refuses_to_run_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG"):
        call_command("run_identity_standin", port=0)
