import ipaddress
import re
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


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_PORT_SUFFIX = re.compile(r":([0-9]{1,5})")


def _is_port_suffix(text: str) -> bool:
    match = _PORT_SUFFIX.fullmatch(text)
    return match is not None and int(match[1]) <= 65535


def forwarded_address(value: str) -> IPAddress | None:
    """The address in one X-Forwarded-For entry, or None when the entry names none.

    Proxies write the address alone (`203.0.113.7`, `2001:db8::1`), with the client's port
    (`203.0.113.7:51234`, `[2001:db8::1]:443`), sometimes quoted as RFC 7239 does, or a
    placeholder (`unknown`, `_hidden`), which names no address. An IPv4 client seen through an
    IPv6 socket (`::ffff:203.0.113.7`) counts as its IPv4 address, and an IPv6 zone (`%eth0`)
    is dropped: the same client is always the same address.
    """
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if value.startswith("["):  # [IPv6] or [IPv6]:port
        host, bracket, rest = value[1:].partition("]")
        if not bracket or ":" not in host or (rest and not _is_port_suffix(rest)):
            return None
    elif value.count(":") == 1:  # IPv4:port (an IPv6 address has at least two colons)
        host, rest = value.split(":")
        if not _is_port_suffix(":" + rest):
            return None
    else:
        host = value
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id is not None:
            return ipaddress.IPv6Address(int(address))
    return address


class TrustedProxyMiddleware:
    """Behind reverse proxies (TRUSTED_PROXIES), the client's own address becomes
    REMOTE_ADDR: rate limits and lock-outs then count per visitor, not per proxy.

    X-Forwarded-For is read from the right, skipping the trusted proxies; the first address
    that is not one of them is the client. A request that does not come from a trusted proxy
    keeps its own peer address, so a visitor cannot choose an address by sending the header.

    An entry that names no address (`unknown`, garbage) ends the walk at the proxy that wrote
    it: that proxy's own address counts. Nothing left of it can be believed, and a shared
    bucket for every unreadable value would let one visitor lock all of them out.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in settings.TRUSTED_PROXIES]

    def _trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self.proxies)

    def client_address(self, *, peer: IPAddress, forwarded_for: str) -> IPAddress:
        """The client's address, given a trusted peer and the X-Forwarded-For it sent."""
        client = peer
        for entry in reversed(forwarded_for.split(",")):
            if not entry.strip():
                continue  # "a, , b" or a trailing comma: an empty entry names no hop at all
            address = forwarded_address(entry)
            if address is None:
                break
            client = address
            if not self._trusted(address):
                break
        return client

    def __call__(self, request: HttpRequest) -> HttpResponse:
        peer = forwarded_address(request.META.get("REMOTE_ADDR", "")) if self.proxies else None
        if peer is not None and self._trusted(peer):
            client = self.client_address(
                peer=peer, forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", "")
            )
            request.META["REMOTE_ADDR"] = str(client)
        return self.get_response(request)


class NulInQueryMiddleware:
    """A NUL character in the query string is refused with 400: no form or filter accepts one,
    and PostgreSQL cannot even compare text with it (the admin's list filters would fail)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        # A decoded NUL can only come from "%00": without one, the query needs no parsing.
        if "\x00" in query or (
            "%00" in query
            and any(
                "\x00" in key or any("\x00" in value for value in values)
                for key, values in request.GET.lists()
            )
        ):
            raise BadRequest("NUL character in the query string")
        return self.get_response(request)
