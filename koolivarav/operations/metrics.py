"""Prometheus metrics: requests by view (django-prometheus), logins and lock-outs (counted
here), and the outbox and the review queues (read from the database at each scrape).

No label ever holds a person's data: labels are view names, HTTP methods from a fixed list,
status codes, outbox states and schools' short names.

Several gunicorn workers: each process counts on its own. With PROMETHEUS_MULTIPROC_DIR set
(an empty directory, emptied at every start of the service) prometheus_client keeps every
process's counters in files there and a scrape adds them up, whichever worker answers it.
What is read from the database is the same from every worker and every server: aggregate it
with max(), not sum().
"""

import hmac
import os
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import DatabaseError
from django.http import HttpRequest
from django.utils import timezone
from django_prometheus.middleware import PrometheusAfterMiddleware
from django_prometheus.utils import Time
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from . import selectors

LOGINS = Counter("koolivarav_logins", "Successful logins, by school.", ["school"])
LOGIN_FAILURES = Counter(
    "koolivarav_login_failures",
    "Logins refused (wrong name or password, or locked out).",
    ["school"],
)
LOCKOUTS = Counter(
    "koolivarav_login_lockouts",
    "django-axes lock-outs: the failure that locks a name and address, and each try while locked.",
    ["school"],
)


def _school_of(request: HttpRequest | None) -> str:
    school = getattr(request, "school", None)
    return school.short_name if school is not None else "-"


def count_login(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    LOGINS.labels(school=_school_of(request)).inc()


def count_login_failure(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    LOGIN_FAILURES.labels(school=_school_of(request)).inc()


def count_lockout(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    LOCKOUTS.labels(school=_school_of(request)).inc()


def connect_signals() -> None:
    from axes.signals import user_locked_out

    user_logged_in.connect(count_login, dispatch_uid="koolivarav.metrics.login")
    user_login_failed.connect(count_login_failure, dispatch_uid="koolivarav.metrics.failure")
    user_locked_out.connect(count_lockout, dispatch_uid="koolivarav.metrics.lockout")


class DatabaseCollector(Collector):
    """Gauges read from the database when Prometheus scrapes: three small grouped counts on
    indexed columns. With the database away, koolivarav_database_up is 0 and the rest is left
    out (a scrape still answers)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("koolivarav_database_up", "1 if the database answered this scrape.")
        try:
            by_status = selectors.emails_by_status()
            now = timezone.now()
            since = selectors.oldest_due_email_since(now=now)
            pending = selectors.pending_applications_per_school()
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        outbox = GaugeMetricFamily(
            "koolivarav_outbox_emails",
            "E-mails in the outbox by state (sent and failed: every one still kept).",
            labels=["state"],
        )
        for state, n in by_status.items():
            outbox.add_metric([state], n)
        yield outbox
        yield GaugeMetricFamily(
            "koolivarav_outbox_oldest_due_seconds",
            "How long the longest-waiting due e-mail has waited (0: none is due).",
            value=(now - since).total_seconds() if since else 0,
        )
        waiting = GaugeMetricFamily(
            "koolivarav_applications_pending",
            "Applications waiting for a decision, by school.",
            labels=["school"],
        )
        for school, n in pending.items():
            waiting.add_metric([school], n)
        yield waiting


def _process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition() -> bytes:
    """The text Prometheus scrapes: the counters of every process, then the database's gauges."""
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    return generate_latest(_process_registry()) + generate_latest(database)


def token_matches(authorization: str) -> bool:
    """Whether an Authorization header carries METRICS_TOKEN (never, when none is set)."""
    token = settings.METRICS_TOKEN
    scheme, _, offered = authorization.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(offered.strip().encode(), token.encode())


_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH")
)


class RequestMetricsMiddleware(PrometheusAfterMiddleware):
    """django-prometheus' per-view counters and latencies, with two corrections.

    Its latency histogram labels a request with the method exactly as the client sent it;
    gunicorn passes any upper-case token of 3 to 20 characters, so a client could make
    unbounded numbers of series (memory in every worker, files in the multiprocess
    directory). Here every label named "method" goes through the library's own fixed list.

    A Content-Length that is not a number (which Django itself reads as 0) made it raise, a
    500; here it counts as 0.
    """

    def label_metric(self, metric: Any, request: Any, response: Any = None, **labels: Any) -> Any:
        if "method" in labels:
            labels["method"] = self._method(request)
        return super().label_metric(metric, request, response, **labels)

    def process_request(self, request: HttpRequest) -> None:
        transport = self._transport(request)
        method = self._method(request)
        self.label_metric(self.metrics.requests_by_method, request, method=method).inc()
        self.label_metric(self.metrics.requests_by_transport, request, transport=transport).inc()
        try:
            length = max(int(request.headers.get("content-length") or 0), 0)
        except ValueError:
            length = 0
        self.label_metric(self.metrics.requests_body_bytes, request).observe(length)
        request.prometheus_after_middleware_event = Time()  # type: ignore[attr-defined]

    def _method(self, request: HttpRequest) -> str:
        return request.method if request.method in _METHODS else "<invalid method>"
