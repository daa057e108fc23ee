"""config.csp: the settings' policy built once, and the same header django-csp writes."""

import pytest
from csp.constants import NONCE
from csp.decorators import csp_exempt, csp_update
from csp.middleware import CSPMiddleware as LibraryCSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory

from config.csp import CSPMiddleware

POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "form-action": ["'self'", "https://tara.example"],
    }
}


def _headers(middleware_class, view, path="/"):
    request = RequestFactory().get(path)
    middleware = middleware_class(lambda request: view(request))
    response = middleware(request)
    return {
        name: response.get(name)
        for name in ("Content-Security-Policy", "Content-Security-Policy-Report-Only")
    }


def _directives(header):
    if header is None:
        return None
    return sorted(part.strip() for part in header.split(";"))


def _same(view, path="/"):
    ours = _headers(CSPMiddleware, view, path)
    library = _headers(LibraryCSPMiddleware, view, path)
    assert {k: _directives(v) for k, v in ours.items()} == {
        k: _directives(v) for k, v in library.items()
    }
    return ours


def _page(request):
    return HttpResponse("page")


def test_the_header_is_django_csps_for_a_plain_page(settings):
    settings.CONTENT_SECURITY_POLICY = POLICY
    headers = _same(_page)
    assert "form-action 'self' https://tara.example" in headers["Content-Security-Policy"]
    assert headers["Content-Security-Policy-Report-Only"] is None


def test_a_changed_setting_changes_the_next_response(settings):
    settings.CONTENT_SECURITY_POLICY = POLICY
    _same(_page)
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    assert _same(_page)["Content-Security-Policy"] == "default-src 'none'"
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"script-src": ["'self'"]}}
    assert "script-src 'self'" in _same(_page)["Content-Security-Policy-Report-Only"]


def test_a_view_with_its_own_policy_or_an_exemption_is_django_csps(settings):
    settings.CONTENT_SECURITY_POLICY = POLICY
    updated = _same(csp_update({"img-src": "https://maps.example"})(_page))
    assert "https://maps.example" in updated["Content-Security-Policy"]
    assert _same(csp_exempt()(_page))["Content-Security-Policy"] is None


def test_excluded_prefixes_and_a_header_already_set_are_respected(settings):
    settings.CONTENT_SECURITY_POLICY = {**POLICY, "EXCLUDE_URL_PREFIXES": ["/raw/"]}
    assert _same(_page, "/raw/file")["Content-Security-Policy"] is None

    def own_header(request):
        response = HttpResponse("page")
        response["Content-Security-Policy"] = "default-src 'none'"
        return response

    assert _same(own_header)["Content-Security-Policy"] == "default-src 'none'"


def test_a_nonce_used_by_the_page_goes_into_the_header(settings):
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"script-src": ["'self'", NONCE]}}

    def with_nonce(request):
        return HttpResponse(str(request.csp_nonce))

    request = RequestFactory().get("/")
    response = CSPMiddleware(with_nonce)(request)
    assert f"'nonce-{response.content.decode()}'" in response["Content-Security-Policy"]


def test_a_nonce_asked_for_after_the_header_is_an_error(settings):
    from csp.exceptions import CSPNonceError

    settings.CONTENT_SECURITY_POLICY = POLICY
    request = RequestFactory().get("/")
    CSPMiddleware(_page)(request)
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)
