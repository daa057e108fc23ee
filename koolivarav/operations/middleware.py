"""Every request gets an id: in each log line written while it runs (log_request_id's filter),
in the X-Request-ID response header, on the error pages and in the error report, so that a
parent who quotes it leads an operator to the lines and the report of that one request."""

import base64
import ipaddress
import re
import secrets

from django.conf import settings
from django.http import HttpRequest
from log_request_id.middleware import RequestIDMiddleware as _RequestIDMiddleware

from .scrubbing import scrub_text

# What an id taken from a proxy's header may look like (nginx's $request_id, a UUID, ours):
# it is written into every log line, so nothing that could break or forge a line.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")


class RequestIdMiddleware(_RequestIDMiddleware):
    """django-log-request-id's middleware with two changes.

    An id in the incoming header (LOG_REQUEST_ID_HEADER, off by default) is believed only
    from one of TRUSTED_PROXIES and only in a safe shape; otherwise a visitor could choose the
    id of their own request, and put whatever they like into every line it logs.

    A new id is 16 random base-32 characters in groups of four, "k3mf-7q2a-xw4n-b6tz": easy
    to read out on the phone, and never eleven digits in a row (which would look like an
    ID code to every scrubber).

    The request lines (LOG_REQUESTS) name the view's route, not the path: a password reset
    link's path holds its token.
    """

    def __init__(self, get_response):  # type: ignore[no-untyped-def]
        super().__init__(get_response)
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in settings.TRUSTED_PROXIES]

    def _get_request_id(self, request: HttpRequest) -> str:
        if self.request_id_header and self._from_trusted_proxy(request):
            offered = request.META.get(self.request_id_header, "")
            if _ACCEPTABLE_ID.fullmatch(offered) and scrub_text(offered) == offered:
                return offered
        return self._generate_id()

    def _from_trusted_proxy(self, request: HttpRequest) -> bool:
        # Before TrustedProxyMiddleware in the stack: REMOTE_ADDR is still the peer.
        try:
            peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(peer in network for network in self.proxies)

    def _generate_id(self) -> str:
        text = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        return "-".join(text[i : i + 4] for i in range(0, 16, 4))

    def get_log_message(self, request, response):  # type: ignore[no-untyped-def]
        match = getattr(request, "resolver_match", None)
        route = (match.view_name or match.route) if match else "-"
        return f"method={request.method} view={route} status={response.status_code}"
