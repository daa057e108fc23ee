"""Every admin page tells browsers and proxies to keep no copy (`Cache-Control: no-store`),
for everyone who can reach it: the login and second-factor pages before the login, and every
page of the site after it (issue 16 item 13)."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse

from koolivarav.accounts.tests.factories import log_in_as_administrator
from koolivarav.schools.tests.factories import StudentFactory

HOST = "jpk.example.ee"


def _admin_urls(objects_by_model) -> list[str]:
    """A concrete address for every URL pattern of the admin site."""
    urls = []

    def walk(patterns, prefix, model):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern), model)
                continue
            assert isinstance(pattern, URLPattern)
            route = prefix + str(pattern.pattern)
            obj = objects_by_model.get(model)
            route = route.replace("<path:object_id>", str(obj.pk) if obj else "1")
            route = route.replace("<int:pk>", str(obj.pk) if obj else "1")
            route = route.replace("<int:content_type_id>", "1").replace("<path:object_id>", "1")
            route = route.replace("<str:app_label>", "schools").replace("<path:url>", "nothing/")
            route = route.replace("^", "").replace("$", "")
            if "(?P<app_label>" in route:
                route = route.split("(?P<app_label>")[0] + "schools/"
            urls.append("/admin/" + route)

    walk([p for p in admin.site.get_urls() if not isinstance(p, URLResolver)], "", None)
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        walk(model_admin.urls, f"{opts.app_label}/{opts.model_name}/", model)
    return sorted(set(urls))


@pytest.fixture
def password_only(school):
    """A school administrator who typed the password but not yet the code."""
    from koolivarav.accounts.tests.factories import SchoolAdminFactory

    client = Client(HTTP_HOST=HOST)
    client.force_login(SchoolAdminFactory(school=school))
    return client


@pytest.fixture
def verified(school, school_admin):
    return log_in_as_administrator(Client(HTTP_HOST=HOST), school_admin)


def _no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


@pytest.mark.parametrize("who", ["anonymous", "password_only", "verified", "operator"])
def test_every_admin_page_is_no_store(who, request, school, school_admin, operator):
    student = StudentFactory(school=school)
    clients = {
        "anonymous": lambda: Client(HTTP_HOST=HOST),
        "password_only": lambda: request.getfixturevalue("password_only"),
        "verified": lambda: request.getfixturevalue("verified"),
        "operator": lambda: log_in_as_administrator(Client(HTTP_HOST=HOST), operator),
    }
    client = clients[who]()
    client.raise_request_exception = False
    urls = _admin_urls({type(student): student, type(school_admin): school_admin})
    assert len(urls) > 60
    # Logging out last: every other page is seen by this person as they are.
    urls = [url for url in urls if url != "/admin/logout/"] + ["/admin/logout/"]
    stored = []
    for url in urls:
        for response in (client.get(url), client.post(url, {})):
            if not _no_store(response):
                stored.append(f"{response.request['REQUEST_METHOD']} {url} {response.status_code}")
    assert stored == [], "\n".join(stored)


def test_the_login_and_second_factor_pages_are_no_store(password_only):
    anonymous = Client(HTTP_HOST=HOST)
    for response in (
        anonymous.get(reverse("admin:login")),
        anonymous.post(reverse("admin:login"), {"username": "x", "password": "y"}),
        anonymous.get(reverse("admin:second_factor")),
        password_only.get(reverse("admin:login")),
        password_only.get(reverse("admin:second_factor_setup"), follow=True),
        password_only.post(reverse("admin:second_factor_setup"), {"code": "000000"}),
    ):
        assert _no_store(response), response.request["PATH_INFO"]
