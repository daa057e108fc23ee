"""/health/live and /health/ready: reachable as a load balancer reaches a backend, JSON with
each check's state and time, failing for the right reason and only for it."""

import contextlib
import logging
import socket
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections, transaction
from django.test import Client
from django.utils import timezone

from koolivarav.conftest import free_port
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import queue_email
from koolivarav.operations import health

LIVE = "/health/live"
READY = "/health/ready"


def _queue(school, n: int = 1) -> list[Email]:
    with transaction.atomic():
        return [
            queue_email(
                school=school,
                to=f"vanem{i}@example.ee",
                kind="test",
                template="applications/email/new_application",
            )
            for i in range(n)
        ]


@pytest.fixture
def production_like(settings):
    """What production has in front of the app: only the schools' host names are allowed and
    plain HTTP is redirected to HTTPS."""
    settings.ALLOWED_HOSTS = ["jpk.example.ee"]
    settings.SECURE_SSL_REDIRECT = True
    return settings


@pytest.fixture
def backend():
    """A load balancer probing a backend by its own address (no school answers on it)."""
    return Client(HTTP_HOST="10.0.3.7:8000")


# --- reachable ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", [LIVE, READY, LIVE + "/", READY + "/"])
def test_probes_answer_by_the_backends_address_over_plain_http(
    school, production_like, backend, path
):
    response = backend.get(path)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["status"] == "ok"
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies  # no session, no language cookie, no CSRF cookie


@pytest.mark.django_db
def test_other_paths_still_meet_the_host_check_and_the_https_redirect(school, production_like):
    by_address = Client(HTTP_HOST="10.0.3.7:8000", raise_request_exception=False)
    assert by_address.get("/").status_code == 400
    assert by_address.get("/health/").status_code == 400
    assert Client(HTTP_HOST="jpk.example.ee").get("/health/").status_code == 301


@pytest.mark.django_db
def test_the_old_health_path_answers_as_before_through_the_whole_stack(school, school_client):
    response = school_client.get("/health/")
    assert response.status_code == 200
    assert response.content == b"ok\n"


def test_live_needs_no_database(backend):
    # No django_db mark: any query would fail this test.
    assert backend.get(LIVE).json() == {"status": "ok", "checks": {}}


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_probes_take_only_get_and_head(backend, method):
    response = getattr(backend, method)(READY)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.django_db
def test_head_is_answered_too(backend):
    assert backend.head(READY).status_code == 200


# --- ready: what it checks ------------------------------------------------------------------------


@pytest.mark.django_db
def test_ready_names_each_check_with_its_state_and_time(backend):
    body = backend.get(READY).json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "migrations", "email_outbox"}
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert 0 <= check["seconds"] < 5
    assert 0 <= body["seconds"] < 5


@pytest.mark.django_db
def test_an_email_due_longer_than_the_limit_fails_ready(school, backend, settings):
    settings.HEALTH_MAX_EMAIL_DELAY_SECONDS = 600
    now = timezone.now()
    with time_machine.travel(now, tick=False) as traveller:
        _queue(school)
        traveller.shift(timedelta(seconds=599))
        assert backend.get(READY).status_code == 200
        traveller.shift(timedelta(seconds=2))
        response = backend.get(READY)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["checks"]["email_outbox"] == {
        "status": "failing",
        "seconds": body["checks"]["email_outbox"]["seconds"],
        "error": "Unavailable: the oldest due e-mail has waited 601 s (limit 600 s)",
    }
    others = {name: c["status"] for name, c in body["checks"].items() if name != "email_outbox"}
    assert others == {"database": "ok", "cache": "ok", "migrations": "ok"}


@pytest.mark.django_db
def test_an_email_waiting_for_its_retry_is_not_late(school, backend):
    """The mail server said "try later": the worker did its part; the e-mail is not due yet."""
    (email,) = _queue(school)
    Email.objects.filter(pk=email.pk).update(
        attempts=5,
        created_at=timezone.now() - timedelta(hours=2),
        next_attempt_at=timezone.now() + timedelta(minutes=10),
    )
    assert backend.get(READY).status_code == 200


@pytest.mark.django_db
def test_an_email_a_dead_worker_left_half_sent_is_late_once_its_lease_is_long_over(school, backend):
    (email,) = _queue(school)
    Email.objects.filter(pk=email.pk).update(
        status=Email.Status.SENDING, lease_until=timezone.now() - timedelta(minutes=11)
    )
    body = backend.get(READY).json()
    assert body["checks"]["email_outbox"]["status"] == "failing"


@pytest.mark.django_db
def test_sent_and_failed_emails_never_make_ready_fail(school, backend):
    sent, failed = _queue(school, 2)
    long_ago = timezone.now() - timedelta(days=3)
    Email.objects.filter(pk=sent.pk).update(status=Email.Status.SENT, next_attempt_at=long_ago)
    Email.objects.filter(pk=failed.pk).update(status=Email.Status.FAILED, next_attempt_at=long_ago)
    assert backend.get(READY).status_code == 200


@pytest.mark.django_db
def test_a_zero_limit_leaves_the_outbox_out_of_ready(school, backend, settings):
    settings.HEALTH_MAX_EMAIL_DELAY_SECONDS = 0
    (email,) = _queue(school)
    Email.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now() - timedelta(days=1))
    body = backend.get(READY).json()
    assert body["status"] == "ok"
    assert "email_outbox" not in body["checks"]


@pytest.mark.django_db
def test_a_migration_the_code_has_and_the_database_lacks_fails_ready(backend, monkeypatch):
    known = health._migrations_in_the_code()
    monkeypatch.setattr(
        health, "_migrations_in_the_code", lambda: known | {("notifications", "9999_newer")}
    )
    body = backend.get(READY).json()
    assert body["checks"]["migrations"]["status"] == "failing"
    assert body["checks"]["migrations"]["error"] == "Unavailable: 1 migrations not applied"


@pytest.mark.django_db
def test_every_migration_of_the_code_is_applied_in_the_test_database():
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    applied = set(MigrationRecorder(connection).applied_migrations())
    assert health._migrations_in_the_code() <= applied
    assert len(health._migrations_in_the_code()) > 20  # every installed app's, not just ours


@pytest.mark.django_db
def test_a_cache_that_refuses_connections_fails_ready(backend, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    response = backend.get(READY)
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == {
        "status": "failing",
        "seconds": response.json()["checks"]["cache"]["seconds"],
        "error": "Unexpected Result: Connection Error",
    }


@pytest.mark.django_db
def test_a_failing_check_logs_one_line_without_a_traceback(school, backend, settings, caplog):
    settings.HEALTH_MAX_EMAIL_DELAY_SECONDS = 1
    (email,) = _queue(school)
    Email.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now() - timedelta(hours=1))
    with caplog.at_level(logging.WARNING):
        backend.get(READY)
    lines = [r for r in caplog.records if r.name in ("health_check", "django.request")]
    assert [r.getMessage() for r in lines] == [
        "Health check EmailOutbox() failed: Unavailable: the oldest due e-mail has waited "
        "3600 s (limit 1 s)"
    ]
    assert lines[0].exc_info is None


# --- the library's command ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_health_check_command_runs_the_readiness_checks_without_http(school):
    with pytest.raises(SystemExit) as exited:
        call_command("health_check", "health_ready", "--no-http")
    assert exited.value.code == 0


# Committed rows: the command runs the checks outside any request thread, on a connection of
# its own, which sees only what is committed.
@pytest.mark.django_db(transaction=True)
def test_the_health_check_command_exits_non_zero_when_not_ready(school, settings):
    settings.HEALTH_MAX_EMAIL_DELAY_SECONDS = 1
    (email,) = _queue(school)
    Email.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now() - timedelta(hours=1))
    # In a thread of its own, as in its own process: the command starts an event loop, which
    # cannot run inside one another test (a browser, an SMTP server) may have left running.
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            call_command("health_check", "health_ready", "--no-http")
        except BaseException as raised:
            outcome.append(raised)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert len(outcome) == 1
    assert isinstance(outcome[0], SystemExit)
    assert outcome[0].code == 1


# --- real processes: gunicorn with the production settings, a worker, PostgreSQL --------------


def _probe(port: int, path: str) -> tuple[int, dict]:
    import http.client
    import json

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Host": f"127.0.0.1:{port}"})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def _failing(port: int) -> set[str]:
    status, body = _probe(port, READY)
    assert (status == 503) == (body["status"] == "failing")
    return {name for name, check in body["checks"].items() if check["status"] == "failing"}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_ready_fails_while_no_worker_sends_the_due_emails_and_recovers(school, smtp_server, site):
    from koolivarav.tests.figures import FIGURES
    from koolivarav.tests.processes import wait_until

    processes = site(HEALTH_MAX_EMAIL_DELAY_SECONDS="2")
    # As in production: only the school's host name, and plain HTTP redirected to HTTPS.
    processes.env.update(ALLOWED_HOSTS="jpk.example.ee", SECURE_SSL_REDIRECT="true")
    port = processes.start_server()
    assert _failing(port) == set()
    worker = processes.start_worker()
    worker.terminate()  # the worker stops (as systemctl stop would)
    worker.wait(timeout=15)
    emails = _queue(school, 3)
    due = time.monotonic()
    wait_until(lambda: _failing(port) == {"email_outbox"}, 30, "ready fails on the outbox")
    FIGURES["health: seconds from e-mails due (limit 2 s) to ready failing"] = round(
        time.monotonic() - due, 1
    )
    assert _probe(port, LIVE) == (200, {"status": "ok", "checks": {}})
    started = time.monotonic()
    processes.start_worker()
    wait_until(lambda: _failing(port) == set(), 60, "ready again once a worker sends")
    FIGURES["health: seconds from a worker's start to ready again"] = round(
        time.monotonic() - started, 1
    )
    assert Email.objects.filter(pk__in=[e.pk for e in emails], status="sent").count() == 3
    assert len(smtp_server.messages) == 3


class DatabaseDoor:
    """A TCP port in front of PostgreSQL that can be closed (connection refused, and every open
    connection cut, as when the server stops) and opened again."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []

    def open(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for each in self.sockets:
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)
                each.close()
        self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_ready_fails_while_postgresql_refuses_connections_and_recovers(school, site):
    from django.db import connection

    from koolivarav.tests.figures import FIGURES
    from koolivarav.tests.processes import database_url, wait_until

    if connection.vendor != "postgresql":
        pytest.skip("a refused connection needs PostgreSQL (DATABASE_URL=postgres://…)")
    door = DatabaseDoor(int(connection.settings_dict.get("PORT") or 5432))
    processes = site()
    real = f":{door.target_port}/"
    assert real in database_url()
    processes.env["DATABASE_URL"] = database_url().replace(real, f":{door.port}/")
    try:
        port = processes.start_server()  # starts, and lives, with the database refused
        database_checks = {"database", "migrations", "email_outbox"}
        assert _failing(port) == database_checks
        _status, body = _probe(port, READY)
        assert body["checks"]["database"]["error"] == "Unavailable: connection failed"
        assert _probe(port, LIVE)[0] == 200
        door.open()
        wait_until(lambda: _failing(port) == set(), 30, "ready once the database answers")
        door.close()  # the server's open connections are cut too
        closed = time.monotonic()
        wait_until(lambda: _failing(port) == database_checks, 30, "failing again")
        FIGURES["health: seconds from PostgreSQL refusing to ready failing"] = round(
            time.monotonic() - closed, 1
        )
        door.open()
        opened = time.monotonic()
        wait_until(lambda: _failing(port) == set(), 30, "ready again")
        FIGURES["health: seconds from PostgreSQL back to ready"] = round(
            time.monotonic() - opened, 1
        )
    finally:
        door.close()
