import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.utils.translation import gettext as _

from .selectors import school_for_host


class CurrentSchoolMiddleware:
    """Sets request.school from the host name; a host no school answers on gets a 404 page.

    Runs after LocaleMiddleware so that the 404 page speaks the visitor's language.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        domain, _port = split_domain_port(request.get_host())
        school = school_for_host(host=domain)
        if school is None:
            raise Http404(_("There is no school at this address."))
        request.school = school  # type: ignore[attr-defined]
        return self.get_response(request)


class TrustedProxyMiddleware:
    """Behind reverse proxies (TRUSTED_PROXIES), the client's own address becomes
    REMOTE_ADDR: rate limits and lock-outs then count per visitor, not per proxy.

    X-Forwarded-For is read from the right, skipping the trusted proxies; the first address
    that is not one of them is the client. A request that does not come from a trusted proxy
    keeps its own peer address, so a visitor cannot choose an address by sending the header.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in settings.TRUSTED_PROXIES]

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self.proxies)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.proxies and self._trusted(request.META.get("REMOTE_ADDR", "")):
            chain = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
            for address in reversed([a for a in chain if a]):
                if not self._trusted(address):
                    try:
                        request.META["REMOTE_ADDR"] = str(ipaddress.ip_address(address))
                    except ValueError:
                        request.META["REMOTE_ADDR"] = "invalid"
                    break
        return self.get_response(request)


class NulInQueryMiddleware:
    """A NUL character in the query string is refused with 400: no form or filter accepts one,
    and PostgreSQL cannot even compare text with it (the admin's list filters would fail)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.META.get("QUERY_STRING", "") or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            raise BadRequest("NUL character in the query string")
        return self.get_response(request)
