"""Django's PostgreSQL backend with a health check that costs no query on a busy connection.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first query of every request that
reuses a persistent connection: one more round trip on every page. Here a connection that
served a query within the last IDLE_SECONDS is checked without asking the server: a server that
ended the session (a restart, a failover, pg_terminate_backend, an idle timeout) has sent its
last message and closed its end, so the socket is readable though nothing was asked, and
psycopg marks a connection it saw fail as closed or broken. Such a connection is closed and the
request opens a new one, as with Django's own check. A connection idle for longer gets Django's
`SELECT 1`: what fails silently (a firewall or NAT forgetting an idle flow) fails with time.
"""

import select
import time
from typing import Any

from django.db.backends.postgresql import base
from psycopg import pq

# A connection used more recently than this is trusted on the evidence of its own socket.
IDLE_SECONDS = 5.0


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.used_at = 0.0

    def connect(self) -> None:
        super().connect()
        self.used_at = time.monotonic()

    def _cursor(self, name: str | None = None) -> Any:
        cursor = super()._cursor(name)  # type: ignore[misc]
        self.used_at = time.monotonic()
        return cursor

    def close_if_health_check_failed(self) -> None:
        if (
            self.pool
            or self.connection is None
            or not self.health_check_enabled  # type: ignore[attr-defined]
            or self.health_check_done  # type: ignore[has-type]
        ):
            return
        if time.monotonic() - self.used_at > IDLE_SECONDS:
            usable = self.is_usable()  # Django's SELECT 1
        else:
            usable = self.socket_looks_usable()
        if not usable:
            self.close()
        self.health_check_done = True

    def socket_looks_usable(self) -> bool:
        """True when psycopg saw nothing wrong and the server has said nothing unasked."""
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return False
        poller = select.poll()
        try:
            poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False
