"""A stand-in TARA (and HarID) on 127.0.0.1 for each test: the client makes real HTTP calls to
it (discovery, keys, token), and the test plays the visitor between the site and it."""

from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client

from koolivarav.conftest import host_of
from koolivarav.identity import client as identity_client
from koolivarav.identity.standin import Person, StandInProvider
from koolivarav.schools.demo import make_id_code

PARENT_CODE = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)
STRANGER_CODE = make_id_code(birth=date(1979, 1, 23), female=False, serial=22)
ADMIN_CODE = make_id_code(birth=date(1977, 3, 15), female=True, serial=1)
PEOPLE = [
    Person(PARENT_CODE, "MARI-LIIS", "MAASIKAS"),
    Person(STRANGER_CODE, "JAAN", "TAMM"),
    Person(ADMIN_CODE, "KADRI", "KASK"),
]
SECRET = "tara-client-secret-0123456789"


def _provider(settings, *, flavour: str, name: str) -> StandInProvider:
    provider = StandInProvider(
        flavour=flavour, client_id=f"{name}-client", client_secret=SECRET, people=PEOPLE
    ).start()
    settings.IDENTITY_PROVIDERS = {
        **settings.IDENTITY_PROVIDERS,
        name: {
            "ISSUER": provider.issuer,
            "CLIENT_ID": f"{name}-client",
            "CLIENT_SECRET": SECRET,
            "SCOPE": "openid" if flavour == "tara" else "openid profile personal_code",
        },
    }
    return provider


@pytest.fixture
def tara(settings):
    settings.IDENTITY_PROVIDERS = {}
    settings.IDENTITY_TIMEOUT_SECONDS = 2
    identity_client._clients.clear()
    provider = _provider(settings, flavour="tara", name="tara")
    provider.auto_choice = (PARENT_CODE, "smartid")
    yield provider
    provider.stop()
    identity_client._clients.clear()


@pytest.fixture
def harid(settings, tara):
    provider = _provider(settings, flavour="harid", name="harid")
    provider.auto_choice = (PARENT_CODE, "")
    yield provider
    provider.stop()


@pytest.fixture
def visitor(school) -> Client:
    return Client(HTTP_HOST=host_of(school))


def through_provider(visitor: Client, *, provider: str = "tara", purpose: str = "login"):
    """Press the button, pass the provider's page (its auto_choice), come back: the site's
    answer to the callback."""
    started = visitor.post(f"/identity/{provider}/start/", {"purpose": purpose})
    assert started.status_code == 302, started
    answer = requests.get(started["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return visitor.get(callback_path(answer.headers["Location"]))


def authorize_url(visitor: Client, *, provider: str = "tara", purpose: str = "login") -> str:
    started = visitor.post(f"/identity/{provider}/start/", {"purpose": purpose})
    assert started.status_code == 302
    return started["Location"]


def callback_path(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
