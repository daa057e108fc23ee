"""The readiness checks: django-health-check's own for the database and the cache, ours for
what it does not cover.

django-health-check 4.x dropped its migrations check ("covered by Django's check framework",
which runs only in `manage.py check`/`migrate`, not in a running server), and has nothing
that knows our outbox; both are HealthCheck subclasses here, so they run, time out and report
exactly like the library's.
"""

import dataclasses
import functools
import logging
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from health_check import Cache, Database, HealthCheck
from health_check.exceptions import ServiceUnavailable

from .selectors import oldest_due_email_since


@functools.cache
def _migrations_in_the_code() -> frozenset[tuple[str, str]]:
    """Every migration of the installed apps, as the code on disk has them (read once per
    process: the code does not change under a running process; the database may)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return frozenset(loader.graph.nodes)


@dataclasses.dataclass
class MigrationsApplied(HealthCheck):
    """Every migration this code has is recorded as applied in the database: a server started
    before `migrate` ran (a deployment half-way) is not ready."""

    alias: str = DEFAULT_DB_ALIAS

    async def run(self) -> None:
        # Thread-sensitive: on the request's own thread and database connection, so a probe
        # opens no connection of its own (the library's Database check does that on purpose).
        await sync_to_async(self._check)()

    def _check(self) -> None:
        try:
            applied = set(MigrationRecorder(connections[self.alias]).applied_migrations())
        except DatabaseError as error:
            raise ServiceUnavailable("cannot read the applied migrations") from error
        missing = _migrations_in_the_code() - applied
        if missing:
            raise ServiceUnavailable(f"{len(missing)} migrations not applied")


@dataclasses.dataclass
class EmailOutbox(HealthCheck):
    """No e-mail has been due for longer than HEALTH_MAX_EMAIL_DELAY_SECONDS: a stopped,
    stuck or missing worker shows here, long before a parent says that no e-mail came.

    An e-mail the mail server refused for now is not due until its next attempt, so a mail
    server outage alone does not fail this check; the worker that keeps retrying is working.
    """

    max_delay: timedelta | None = dataclasses.field(default=None, repr=False)

    async def run(self) -> None:
        await sync_to_async(self._check)()

    def _check(self) -> None:
        max_delay = self.max_delay or timedelta(seconds=settings.HEALTH_MAX_EMAIL_DELAY_SECONDS)
        now = timezone.now()
        try:
            since = oldest_due_email_since(now=now)
        except DatabaseError as error:
            raise ServiceUnavailable("cannot read the outbox") from error
        if since is not None and now - since > max_delay:
            waited = int((now - since).total_seconds())
            limit = int(max_delay.total_seconds())
            raise ServiceUnavailable(
                f"the oldest due e-mail has waited {waited} s (limit {limit} s)"
            )


def readiness_checks() -> dict[str, HealthCheck]:
    """The checks of /health/ready by the names its answer gives them. The e-mail check is
    left out when HEALTH_MAX_EMAIL_DELAY_SECONDS is 0 (an installation whose load balancer
    should not take every app server out because of the worker)."""
    checks: dict[str, HealthCheck] = {
        "database": Database(),
        "cache": Cache(),
        "migrations": MigrationsApplied(),
    }
    if settings.HEALTH_MAX_EMAIL_DELAY_SECONDS > 0:
        checks["email_outbox"] = EmailOutbox()
    return checks


class OneLineCheckFailures(logging.Filter):
    """django-health-check logs every failed check with its traceback. A probe asks every few
    seconds, so an outage would fill the log with the same traceback: keep the one line, and
    add the check's own (generic) message to it. Unexpected errors keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Health check %r failed" and record.exc_info:
            error = record.exc_info[1]
            record.msg = "Health check %r failed: %s"
            record.args = (*(record.args or ()), str(error))  # type: ignore[misc]
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_check_failures() -> None:
    """Install OneLineCheckFailures on django-health-check's logger (once)."""
    library_logger = logging.getLogger("health_check")
    if not any(isinstance(f, OneLineCheckFailures) for f in library_logger.filters):
        library_logger.addFilter(OneLineCheckFailures())
