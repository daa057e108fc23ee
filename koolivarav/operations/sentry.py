"""Error reports to Sentry or a Sentry-compatible service (GlitchTip, …), on when SENTRY_DSN
is set (koolivarav.operations.apps).

What a report holds is what the SDK collects without personal data (send_default_pii off, no
request bodies, no local variables), and then less: before anything leaves the process,
`scrub_event` drops the request's cookies, form data, environment and every header but a few
harmless ones, keeps only the names of the query's parameters, and masks ID codes, e-mail
addresses and reset tokens in every string that is left (the exception's message, the
breadcrumbs' log lines). Each report is tagged with the request's id, which the error page
shows the parent.
"""

import warnings
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

import sentry_sdk
from log_request_id import local
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.utils import iter_event_frames

from .scrubbing import scrub_text

if TYPE_CHECKING:
    from sentry_sdk._types import Breadcrumb, BreadcrumbHint, Event, Hint

FILTERED = "[Filtered]"
# The request headers a report keeps; the others (Cookie, Authorization, X-Forwarded-For, a
# Referer with a query string, …) are left out.
KEPT_HEADERS = frozenset(
    {"host", "user-agent", "accept", "accept-language", "content-type", "content-length"}
)


def start_error_reports(
    *, dsn: str, environment: str, release: str = "", traces_sample_rate: float = 0.0
) -> None:
    with warnings.catch_warnings():
        # sentry-sdk 2.x deprecates send_default_pii for its data_collection option, whose
        # omitted fields default to collecting (user_info among them). False here is the
        # stricter, documented meaning, so it stays, said out loud.
        warnings.filterwarnings("ignore", "The send_default_pii option", DeprecationWarning)
        sentry_sdk.init(
            dsn=dsn,
            environment=environment,
            release=release or None,
            integrations=[DjangoIntegration()],
            send_default_pii=False,
            include_local_variables=False,
            max_request_body_size="never",
            traces_sample_rate=traces_sample_rate or None,
            before_send=scrub_event,
            before_send_transaction=scrub_event,
            before_breadcrumb=scrub_breadcrumb,
        )


def scrub_event(event: "Event", hint: "Hint") -> "Event":
    """The event with nothing personal left, tagged with the request's id."""
    return cast("Event", _scrubbed_event(cast(dict[str, Any], event)))


def scrub_breadcrumb(crumb: "Breadcrumb", hint: "BreadcrumbHint") -> "Breadcrumb":
    """A breadcrumb (a log line, a query, a request to elsewhere) with its strings masked."""
    _drop_request_object(crumb.get("data"))
    return cast("Breadcrumb", _scrub_strings(crumb))


def _scrubbed_event(event: dict[str, Any]) -> dict[str, Any]:
    request = event.get("request")
    if isinstance(request, dict):
        _scrub_request(request)
    event.pop("user", None)
    _drop_request_object(event.get("extra"))
    for frame in iter_event_frames(cast("Event", event)):
        frame.pop("vars", None)
    request_id = getattr(local, "request_id", None)
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    scrubbed: dict[str, Any] = _scrub_strings(event)
    return scrubbed


def _drop_request_object(extra: Any) -> None:
    # Django's log records carry the request (extra={"request": …}); the SDK would send its
    # repr, "<WSGIRequest: GET '/admin/…/?q=Mari Maasikas'>", query string and all.
    if isinstance(extra, dict):
        extra.pop("request", None)


def _scrub_request(request: dict[str, Any]) -> None:
    request.pop("cookies", None)
    request.pop("env", None)  # REMOTE_ADDR and the server's own variables
    if "data" in request:
        request["data"] = FILTERED
    if request.get("query_string"):
        # An admin search (q=Mari Maasikas), a code in a link: the names say enough.
        names = [name for name, _value in parse_qsl(str(request["query_string"]), True)]
        request["query_string"] = "&".join(f"{name}={FILTERED}" for name in names)
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
    if isinstance(request.get("url"), str):
        request["url"] = request["url"].split("?", 1)[0]


def _scrub_strings(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {_scrub_strings(key): _scrub_strings(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_strings(item) for item in value]
    return value
