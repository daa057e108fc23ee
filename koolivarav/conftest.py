"""Shared fixtures: two schools, students, a parent, a school administrator, clients, SMTP."""

import asyncio
import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller
from django.core.cache import cache
from django.test import Client

from koolivarav.accounts.models import User
from koolivarav.accounts.tests.factories import (
    PASSWORD,
    OperatorFactory,
    SchoolAdminFactory,
    UserFactory,
    log_in_as_administrator,
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
    log_in_as_administrator(client, school_admin)
    return client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RecordingHandler:
    """An aiosmtpd handler that keeps what it receives, or refuses on request."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refusals: list[str] = []  # answers to give, one per message, before accepting
        self.delay = 0.0  # seconds to take over each message (a slow mail server)

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refusals:
            return self.refusals.pop(0)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


class SmtpSink:
    """A real SMTP server on a loopback port that can be stopped and started again."""

    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return self.handler.messages


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server (aiosmtpd) with Django's SMTP backend pointed at it."""
    sink = SmtpSink()
    sink.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    yield sink
    sink.stop()


@pytest.fixture(autouse=True)
def _forget_hosts():
    """Each test's schools are new: no cached host answers from an earlier test."""
    from koolivarav.schools.pagecache import forget_pages
    from koolivarav.schools.selectors import forget_hosts

    forget_hosts()
    forget_pages()
    yield
    forget_hosts()
    forget_pages()
