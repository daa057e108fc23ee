"""The operator's endpoints, answered before every other middleware."""

from collections.abc import Callable

from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseNotFound
from django.utils.cache import add_never_cache_headers
from prometheus_client import CONTENT_TYPE_LATEST

from . import metrics, views


def _metrics(request: HttpRequest) -> HttpResponse:
    # Without the right token the path does not exist, as for any other unknown path.
    if not metrics.token_matches(request.headers.get("authorization", "")):
        return HttpResponseNotFound("Not Found\n", content_type="text/plain")
    response = HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
    add_never_cache_headers(response)
    return response


def _ready(request: HttpRequest) -> HttpResponse:
    return async_to_sync(views.ready)(request)  # type: ignore[arg-type]


_ENDPOINTS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/health/live": views.live,
    "/health/ready": _ready,
    "/metrics": _metrics,
}


class OperationsEndpointsMiddleware:
    """First in MIDDLEWARE: answers /health/live, /health/ready and /metrics itself.

    A load balancer or Prometheus reaches a backend by its own address, over plain HTTP,
    with a Host header no school answers on: so these answers come before the host check
    (ALLOWED_HOSTS is checked only when request.get_host() is called, which nothing here
    does), the HTTPS redirect (SecurityMiddleware), sessions, the school lookup and CSRF,
    and they use nothing the visitor sent but the path and the metrics token. They render
    no page. Every other path goes on through the stack untouched (the old /health/ too).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = _ENDPOINTS.get(request.path_info.rstrip("/"))
        if endpoint is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return endpoint(request)
