"""Shared fixtures: two schools, students, a parent, a school administrator, clients."""

import pytest
from django.core.cache import cache
from django.test import Client

from koolivarav.accounts.models import User
from koolivarav.accounts.tests.factories import (
    PASSWORD,
    OperatorFactory,
    SchoolAdminFactory,
    UserFactory,
)
from koolivarav.schools.models import School, Student
from koolivarav.schools.tests.factories import SchoolFactory, StudentFactory


@pytest.fixture(autouse=True)
def _empty_cache():
    """Rate-limit counters live in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def school(db) -> School:
    return SchoolFactory()


@pytest.fixture
def other_school(db) -> School:
    return SchoolFactory(name="Tartu Tamme Gümnaasium", short_name="tamme")


def host_of(school: School) -> str:
    return school.hosts.first().hostname


@pytest.fixture
def student(school) -> Student:
    return StudentFactory(school=school)


@pytest.fixture
def parent(school) -> User:
    return UserFactory(school=school)


@pytest.fixture
def school_admin(school) -> User:
    return SchoolAdminFactory(school=school)


@pytest.fixture
def operator(db) -> User:
    return OperatorFactory()


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def school_client(school) -> Client:
    """An anonymous visitor of the school's portal (its host name)."""
    return Client(HTTP_HOST=host_of(school))


@pytest.fixture
def admin_client_of_school(school, school_admin) -> Client:
    client = Client(HTTP_HOST=host_of(school))
    client.force_login(school_admin)
    return client
