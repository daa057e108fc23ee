"""Pages for anonymous first visits, rendered once per process and language, each copy with
a fresh CSRF token of its own.

The public pages (home, step 1, password reset) are the same for every visitor who has no
session yet, except for the CSRF token in their forms. Rendering the templates costs several
times what the request itself costs, so the rendered page is kept for a short while with the
tokens taken out, and every visitor gets a copy with a token made for them (never another
visitor's: each copy's token comes from get_token for that request).
"""

import re
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import get_token

PAGE_SECONDS = 60
_TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*(")')
_PLACEHOLDER = "\x00csrf\x00"  # a NUL never occurs in a rendered page
_pages: dict[tuple[Any, ...], tuple[float, str, str]] = {}


def forget_pages() -> None:
    _pages.clear()


def _cacheable(request: HttpRequest) -> bool:
    # Anything that can make the page differ for this visitor: a query string (?next=...),
    # a session (step 1's data, a logged-in user), or messages waiting to be shown.
    return (
        request.method == "GET"
        and not request.GET
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and "messages" not in request.COOKIES
    )


def cache_anonymous_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not _cacheable(request):
            return view(request, *args, **kwargs)
        school = getattr(request, "school", None)
        key = (school.pk if school else None, getattr(request, "LANGUAGE_CODE", ""), request.path)
        now = time.monotonic()
        cached = _pages.get(key)
        if cached is not None and now - cached[0] < PAGE_SECONDS:
            _stored_at, content_type, body = cached
            page = body.replace(_PLACEHOLDER, get_token(request))
            return HttpResponse(page, content_type=content_type)
        response = view(request, *args, **kwargs)
        if hasattr(response, "render"):
            response.render()
        if (
            isinstance(response, HttpResponse)
            and response.status_code == 200
            and not response.cookies
        ):
            body = response.content.decode(response.charset)
            template = _TOKEN.sub(rf"\g<1>{_PLACEHOLDER}\g<2>", body)
            if len(_pages) > 100:
                _pages.clear()
            _pages[key] = (now, response["Content-Type"], template)
        return response

    return wrapped
