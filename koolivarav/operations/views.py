"""/health/live and /health/ready: JSON, no page rendering, nothing from the visitor.

They are answered by `endpoints.OperationsEndpointsMiddleware` before any other middleware
(so a load balancer reaches them by the backend's address, over plain HTTP, with no school,
host check or session); the URL patterns in config.urls name them for `reverse` and for
django-health-check's `manage.py health_check health_ready --no-http`.
"""

import asyncio
import time
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from health_check.base import HealthCheck, HealthCheckResult
from health_check.views import HealthCheckView

from .health import readiness_checks


def _answer(body: dict[str, Any], status: int) -> JsonResponse:
    response = JsonResponse(body, status=status)
    add_never_cache_headers(response)
    return response


def live(request: HttpRequest) -> HttpResponse:
    """The process answers: no database, no cache, nothing that could be away."""
    return _answer({"status": "ok", "checks": {}}, 200)


class ReadinessView(HealthCheckView):
    """Every readiness check at once (django-health-check runs them concurrently, each with its
    own time limit); 200 when all pass, 503 when any fails, so that a load balancer takes the
    server out. Each check's state and time in seconds; a failing one's generic message."""

    http_method_names = ["get", "head"]

    def get_checks(self) -> Any:  # as the library's, for `manage.py health_check --no-http`
        yield from readiness_checks().values()

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        named: dict[str, HealthCheck] = readiness_checks()
        started = time.perf_counter()
        with self.get_executor() as executor:
            results: list[HealthCheckResult] = await asyncio.gather(
                *(check.get_result(executor) for check in named.values())
            )
        checks = {name: _describe(result) for name, result in zip(named, results, strict=True)}
        failing = any(result.error for result in results)
        body = {
            "status": "failing" if failing else "ok",
            "seconds": round(time.perf_counter() - started, 4),
            "checks": checks,
        }
        response = _answer(body, 503 if failing else 200)
        # Each failing check has logged its line (health.OneLineCheckFailures); Django's own
        # "Service Unavailable: /health/ready" on every probe would only repeat it.
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response


def _describe(result: HealthCheckResult) -> dict[str, Any]:
    described: dict[str, Any] = {
        "status": "failing" if result.error else "ok",
        "seconds": round(result.time_taken, 4),
    }
    if result.error:
        described["error"] = str(result.error)
    return described


ready = ReadinessView.as_view()
