"""Security headers and cookies (SECURITY.md CONF-2, SESS-2, SESS-5), on every kind of page:
public, logged in, admin, errors."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from config.settings import base
from koolivarav.accounts.tests.factories import log_in_as_administrator
from koolivarav.schools.tests.factories import StudentFactory

HOST = "jpk.example.ee"


def _csp(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part
    }


@pytest.fixture
def pages(school, parent, school_admin):
    """(who, response) for a page of every kind, the error pages included."""
    child = StudentFactory(school=school)
    parent.children.add(child)
    anonymous = Client(HTTP_HOST=HOST)
    logged_in = Client(HTTP_HOST=HOST)
    logged_in.force_login(parent)
    admin = log_in_as_administrator(Client(HTTP_HOST=HOST), school_admin)
    return [
        ("home", anonymous.get("/")),
        ("step 1", anonymous.get(reverse("applications:start"))),
        ("reset", anonymous.get(reverse("accounts:password_reset"))),
        (
            "reset link",
            anonymous.get(reverse("accounts:password_reset_confirm", args=["MQ", "set-password"])),
        ),
        ("404", anonymous.get("/no-such-page/")),
        ("unknown host", Client(HTTP_HOST="tundmatu.example.ee").get("/")),
        ("admin login", anonymous.get(reverse("admin:login"))),
        ("parent home", logged_in.get("/")),
        ("profile", logged_in.get(reverse("accounts:profile"))),
        ("child", logged_in.get(reverse("accounts:child", args=[child.pk]))),
        ("data download", logged_in.get(reverse("accounts:personal_data"))),
        ("admin queue", admin.get(reverse("admin:applications_application_changelist"))),
        ("csrf failure", Client(HTTP_HOST=HOST, enforce_csrf_checks=True).post("/", {})),
    ]


def test_every_page_carries_the_security_headers(pages):
    for name, response in pages:
        assert response["X-Frame-Options"] == "DENY", name
        assert response["X-Content-Type-Options"] == "nosniff", name
        assert response["Referrer-Policy"] == "same-origin", name
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", name
        csp = _csp(response)
        assert csp["default-src"] == ["'self'"], name
        assert csp["object-src"] == ["'none'"], name
        assert csp["base-uri"] == ["'none'"], name
        assert csp["frame-ancestors"] == ["'none'"], name
        assert csp["form-action"] == ["'self'"], name
        assert not any("unsafe" in source for source in csp["script-src"]), name
        assert not any("unsafe" in source for source in csp["style-src"]), name
    assert len(pages) == 13


def test_no_page_has_inline_script_or_style(pages):
    """The policy forbids them, so they would silently not work."""
    for name, response in pages:
        if response["Content-Type"].startswith("text/html"):
            page = response.content.decode()
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), name
            assert " style=" not in page, name
            assert "<style" not in page, name


def test_pages_for_a_logged_in_person_are_never_stored(pages):
    for name, response in pages:
        if name in {"parent home", "profile", "child", "data download", "admin queue"}:
            assert "no-store" in response["Cache-Control"], name


def test_the_500_page_has_the_headers_and_no_traceback(school_client, monkeypatch):
    from koolivarav.accounts import views

    def broken(*args, **kwargs):
        raise RuntimeError("Traceback-marker 38001010008")

    monkeypatch.setattr(views.HomeView, "get", broken)
    school_client.raise_request_exception = False
    response = school_client.get("/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Traceback" not in page
    assert "38001010008" not in page
    assert "RuntimeError" not in page
    assert "Midagi läks valesti" in page
    assert _csp(response)["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"


def test_hsts_is_sent_over_https(school_client):
    response = school_client.get("/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_production_cookies_are_secure_httponly_and_host_only(school, parent, password, settings):
    # The test settings relax these for the browser journeys over plain HTTP; production's:
    assert base.SESSION_COOKIE_SECURE
    assert base.CSRF_COOKIE_SECURE
    assert base.LANGUAGE_COOKIE_SECURE
    assert base.SESSION_COOKIE_HTTPONLY
    assert base.CSRF_COOKIE_HTTPONLY
    assert base.SESSION_COOKIE_NAME == "__Host-sessionid"
    assert base.CSRF_COOKIE_NAME == "__Host-csrftoken"
    for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_NAME"):
        setattr(settings, name, getattr(base, name))
    settings.CSRF_COOKIE_NAME = base.CSRF_COOKIE_NAME

    client = Client(HTTP_HOST=HOST)
    client.get("/", secure=True)
    client.post(
        "/",
        {"username": parent.email, "password": password},
        secure=True,
        HTTP_REFERER=f"https://{HOST}/",
    )
    session = client.cookies["__Host-sessionid"]
    csrf = client.cookies["__Host-csrftoken"]
    for cookie in (session, csrf):
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert cookie["path"] == "/"
        assert not cookie["domain"]


def test_no_url_of_the_site_carries_an_id_code():
    """Every route's parameters are numbers or tokens, never a person's code."""
    from django.urls import get_resolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern)

    routes = list(walk(get_resolver().url_patterns))
    assert len(routes) > 50
    assert not [r for r in routes if re.search(r"id_code|isikukood|personal_code", r)]
