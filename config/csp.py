"""django-csp's middleware with the settings' policy built once per process.

django-csp builds both headers (the policy and the report-only one) from the settings on every
response: about 60 µs, a twentieth of the product's cheapest page. No page of the product uses
a nonce or a policy of its own, so the header is the same string on every response. Here it is
built once and kept until a CONTENT_SECURITY_POLICY setting changes; a response that does ask
for its own policy (django-csp's decorators) or a request that used a nonce goes through
django-csp's own code unchanged.
"""

from __future__ import annotations

import http.client
from functools import cache
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as LibraryCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase

# What django-csp's decorators set on a response that wants a policy of its own.
_OWN_POLICY = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
# The pages django-csp leaves without the header when DEBUG is on (Django's debug pages).
_DEBUG_PAGES = (http.client.INTERNAL_SERVER_ERROR, http.client.NOT_FOUND)


@cache
def _policies() -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
    """(header, policy, the response's exemption attribute, excluded path prefixes) for the
    policy and the report-only policy, as django-csp builds them from the settings."""
    policies = []
    for header, setting, exempt, report_only in (
        (HEADER, "CONTENT_SECURITY_POLICY", "_csp_exempt", False),
        (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", "_csp_exempt_ro", True),
    ):
        policy = build_policy(report_only=report_only)
        if policy:
            config = getattr(settings, setting, None) or {}
            prefixes = tuple(config.get("EXCLUDE_URL_PREFIXES", None) or ())
            policies.append((header, policy, exempt, prefixes))
    return tuple(policies)


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _policies.cache_clear()


class CSPMiddleware(LibraryCSPMiddleware):
    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if (
            getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _OWN_POLICY)
            or (settings.DEBUG and response.status_code in _DEBUG_PAGES)
        ):
            return super().process_response(request, response)
        for header, policy, exempt, prefixes in _policies():
            if (
                header not in response
                and getattr(response, exempt, False) is False
                and not request.path_info.startswith(prefixes)
            ):
                response[header] = policy
        # As django-csp does: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response
