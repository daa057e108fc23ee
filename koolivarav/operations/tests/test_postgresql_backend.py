"""The PostgreSQL backend's health check (koolivarav.operations.postgresql): no query on a
connection in use, and still a new connection when the server has ended the old one."""

import select
import time
from pathlib import Path

import psycopg
import pytest
from django.db import OperationalError, connection, connections

from koolivarav.operations.postgresql import base

pytestmark = pytest.mark.django_db


@pytest.fixture
def wrapper():
    """A connection of its own, as a server process holds between requests."""
    if connection.vendor != "postgresql":
        pytest.skip("the health check of the PostgreSQL backend")
    own = connections.create_connection("default")
    assert isinstance(own, base.DatabaseWrapper)
    with own.cursor() as cursor:
        cursor.execute("SELECT 1")
    yield own
    own.close()


def _next_request(wrapper) -> None:
    """What Django does between two requests (request_finished, request_started)."""
    wrapper.close_if_unusable_or_obsolete()


def _traced(wrapper, tmp_path: Path, action) -> str:
    """What the client sent the server during `action` (libpq's own protocol trace)."""
    trace = tmp_path / "trace.txt"
    with trace.open("w") as out:
        wrapper.connection.pgconn.trace(out.fileno())
        try:
            action()
        finally:
            if wrapper.connection is not None and not wrapper.connection.closed:
                wrapper.connection.pgconn.untrace()
    return trace.read_text()


def test_a_connection_in_use_is_checked_without_a_query(wrapper, tmp_path):
    _next_request(wrapper)
    sent = _traced(wrapper, tmp_path, wrapper.close_if_health_check_failed)
    assert sent == ""
    assert wrapper.health_check_done
    assert wrapper.connection is not None


def test_an_idle_connection_is_checked_with_a_query(wrapper, tmp_path):
    _next_request(wrapper)
    wrapper.used_at = time.monotonic() - base.IDLE_SECONDS - 1  # idle for longer
    sent = _traced(wrapper, tmp_path, wrapper.close_if_health_check_failed)
    assert "SELECT 1" in sent
    assert wrapper.connection is not None


def _end_on_the_server(wrapper) -> None:
    """The server ends the session, as a restart or a failover does."""
    pid = wrapper.connection.info.backend_pid
    settings = wrapper.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        host=settings.get("HOST") or "127.0.0.1",
        port=settings.get("PORT") or 5432,
        user=settings.get("USER") or "postgres",
        password=settings.get("PASSWORD") or None,
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server's last message reaches the socket a moment later.
    select.select([wrapper.connection.fileno()], [], [], 5)


def test_a_connection_the_server_ended_is_replaced_before_the_next_query(wrapper):
    old_pid = wrapper.connection.info.backend_pid
    _end_on_the_server(wrapper)
    _next_request(wrapper)
    with wrapper.cursor() as cursor:  # the health check runs first
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != old_pid


def test_without_the_check_the_ended_connection_fails(wrapper):
    """The test above would pass by luck if a dead connection worked anyway."""
    _end_on_the_server(wrapper)
    _next_request(wrapper)
    wrapper.health_check_done = True  # as if the check had passed
    with pytest.raises(OperationalError), wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
