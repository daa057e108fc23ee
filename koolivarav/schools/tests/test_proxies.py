"""Behind trusted reverse proxies the client's own address counts (rate limits, lock-outs)."""

import pytest
from django.test import RequestFactory

from koolivarav.schools.middleware import TrustedProxyMiddleware


def _seen(settings, remote, forwarded=None, proxies=("10.0.0.0/8", "127.0.0.1")):
    settings.TRUSTED_PROXIES = list(proxies)
    seen = {}

    def view(request):
        seen["address"] = request.META["REMOTE_ADDR"]

    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    TrustedProxyMiddleware(view)(RequestFactory().get("/", **extra))
    return seen["address"]


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        ("10.0.0.5", "203.0.113.7", "203.0.113.7"),  # one proxy
        ("10.0.0.5", "198.51.100.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),  # two proxies
        ("203.0.113.7", "1.2.3.4", "203.0.113.7"),  # not from a proxy: the header is ignored
        ("10.0.0.5", None, "10.0.0.5"),  # a proxy's own request
        ("10.0.0.5", "", "10.0.0.5"),
        ("10.0.0.5", "not-an-address", "10.0.0.5"),  # unreadable: the proxy's own address
        ("10.0.0.5", "2001:db8::1", "2001:db8::1"),
        ("127.0.0.1", "  203.0.113.7  ,", "203.0.113.7"),
    ],
)
def test_the_client_behind_trusted_proxies(settings, remote, forwarded, client):
    assert _seen(settings, remote, forwarded) == client


def test_without_trusted_proxies_the_header_means_nothing(settings):
    assert _seen(settings, "127.0.0.1", "203.0.113.7", proxies=()) == "127.0.0.1"
