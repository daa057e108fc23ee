"""The client's address behind trusted proxies, whatever the proxies write into X-Forwarded-For.

Proxies add ports (`203.0.113.7:51234`), brackets (`[2001:db8::1]:443`) or placeholders
(`unknown`); a login behind them must still work and be counted per client, never answer 500.
"""

import ipaddress

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from koolivarav.accounts import throttling
from koolivarav.schools.middleware import TrustedProxyMiddleware, forwarded_address

PROXY = "10.0.0.5"


# --- the parse -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:51234", "203.0.113.7"),
        ("  203.0.113.7:51234 ", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ('"[2001:db8::1]:443"', "2001:db8::1"),  # quoted, as RFC 7239 writes it
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client seen through an IPv6 socket
        ("[::ffff:203.0.113.7]:8080", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::1"),  # the zone means nothing beyond the proxy's own link
    ],
)
def test_an_address_is_read_with_or_without_port_and_brackets(value, address):
    assert str(forwarded_address(value)) == address


@pytest.mark.parametrize(
    "value",
    [
        "",
        "unknown",
        "_hidden",
        "not-an-address",
        "203.0.113.7:",
        "203.0.113.7:port",
        "203.0.113.7:123456",
        "203.0.113.7:-1",
        "[203.0.113.7]:443",  # brackets are for IPv6 only
        "[2001:db8::1",
        "[2001:db8::1]443",
        "[2001:db8::1]:443:1",
        "2001:db8::1:443:1:2:3:4",
        "203.0.113.256",
        "1.2.3.4%eth0",
        "\u0662\u0660\u0663.0.113.7",  # Arabic-Indic digits
        "203.0.113.7\x00",
    ],
)
def test_anything_else_is_not_an_address(value):
    assert forwarded_address(value) is None


# --- the middleware ------------------------------------------------------------------------------


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
    ("forwarded", "client"),
    [
        ("203.0.113.7:51234", "203.0.113.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("198.51.100.1, 203.0.113.7:51234, 10.0.0.9:3128", "203.0.113.7"),
        # What a proxy could not name falls back to that proxy: here the one that sent it.
        ("unknown", PROXY),
        ("203.0.113.7, unknown", PROXY),  # left of a placeholder nothing is believed
        ("unknown, 10.0.0.9", "10.0.0.9"),  # the second proxy passed on the first one's value
        ("not-an-address", PROXY),
        (",,,", PROXY),
        # Only trusted proxies in the chain: the leftmost one is the client (an inside visitor).
        ("10.0.0.7, 10.0.0.9", "10.0.0.7"),
    ],
)
def test_the_client_behind_a_proxy_that_adds_ports_or_placeholders(settings, forwarded, client):
    assert _seen(settings, PROXY, forwarded) == client


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.one_of(
        st.text(),
        st.lists(
            st.one_of(
                st.ip_addresses().map(str),
                st.ip_addresses(v=6).map(lambda a: f"[{a}]:443"),
                st.ip_addresses(v=4).map(lambda a: f"{a}:51234"),
                st.text(alphabet="0123456789abcdef:.[]% _-unknow\"'\t\x00", max_size=30),
            ),
            max_size=6,
        ).map(", ".join),
    )
)
def test_after_the_middleware_the_address_is_always_an_address(settings, header):
    address = _seen(settings, PROXY, header)
    assert str(ipaddress.ip_address(address)) == address


# --- logging in behind the proxy, over HTTP ------------------------------------------------------

ODD_HEADERS = [
    ("203.0.113.7:51234", "203.0.113.7"),
    ("[2001:db8::1]:443", "2001:db8::1"),
    ("unknown", PROXY),
    ("garbage, 198.51.100.9:8080", "198.51.100.9"),
]


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]


def _client(school, forwarded):
    return Client(
        HTTP_HOST=school.hosts.first().hostname,
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


@pytest.mark.parametrize(("forwarded", "address"), ODD_HEADERS)
def test_a_login_behind_a_proxy_with_an_odd_header_works(
    school, parent, password, behind_proxy, forwarded, address
):
    client = _client(school, forwarded)
    response = client.post("/", {"username": parent.email, "password": password})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


@pytest.mark.parametrize(("forwarded", "address"), ODD_HEADERS)
def test_a_failed_login_is_counted_for_the_client_behind_the_proxy(
    school, parent, behind_proxy, forwarded, address
):
    response = _client(school, forwarded).post(
        "/", {"username": parent.email, "password": "vale-salasõna"}
    )
    assert response.status_code == 200
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [address]
    assert list(AccessFailureLog.objects.values_list("ip_address", flat=True)) == [address]


def test_the_lock_out_follows_the_client_whatever_port_its_proxy_reports(
    school, parent, password, behind_proxy, settings
):
    for port in range(settings.AXES_FAILURE_LIMIT):
        _client(school, f"203.0.113.7:{50000 + port}").post(
            "/", {"username": parent.email, "password": "vale-salasõna"}
        )
    locked = _client(school, "203.0.113.7:61000").post(
        "/", {"username": parent.email, "password": password}
    )
    assert locked.status_code == 429
    # Another client behind the same proxy, with its own odd header, is not in that bucket.
    for other in ("[2001:db8::1]:443", "198.51.100.9:8080"):
        response = _client(school, other).post(
            "/", {"username": parent.email, "password": password}
        )
        assert response.status_code == 302, other


@pytest.mark.parametrize(("forwarded", "address"), ODD_HEADERS)
def test_the_application_form_counts_per_client_behind_the_proxy(
    school, behind_proxy, settings, forwarded, address
):
    limits = {**settings.KOOLIVARAV["RATE_LIMITS"], "application_form_per_address": (1, 3600)}
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "RATE_LIMITS": limits}
    assert _client(school, forwarded).post("/apply/", {}).status_code == 200
    limit = throttling.limit("application_form_per_address")
    assert throttling.is_over(limit, address)
    assert not throttling.is_over(limit, "192.0.2.99")
