import functools
from collections.abc import Callable

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import middleware as auth_middleware
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import get_script_prefix, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.functional import LazyObject, SimpleLazyObject, empty

from . import sessions
from .models import User


class AuthenticationMiddleware(auth_middleware.AuthenticationMiddleware):
    """Django's, with the user read in the same query as the session (accounts.sessions).

    Who is logged in is still decided by `django.contrib.auth.get_user`, with its check of the
    session against the password hash; it only gets the user without a query of its own.
    """

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: get_user(request))  # type: ignore[assignment]


def get_user(request: HttpRequest) -> User | AnonymousUser:
    if not hasattr(request, "_cached_user"):
        session = request.session
        user = session.load_with_user() if isinstance(session, sessions.SessionStore) else None
        with sessions.preloaded(user):
            request._cached_user = auth.get_user(request)  # type: ignore[attr-defined]
    return request._cached_user  # type: ignore[attr-defined,no-any-return]


def _maybe_logged_in(request: HttpRequest) -> bool:
    """False when nobody can be logged in: no session cookie came, and no view has set the user
    (a login replaces the lazy one). Knowing that costs no session read, which a first visit
    or a probe then does not make."""
    user = getattr(request, "user", None)
    return not (
        isinstance(user, LazyObject)
        and user._wrapped is empty
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
    )


@functools.cache
def _admin_path(script_prefix: str) -> str:
    # Once per script prefix (which reverse() puts in front): reverse() on every request cost
    # as much as some whole middlewares do.
    return reverse("admin:index")


# What a user with a temporary password may still open besides the profile.
_ALLOWED_PREFIXES = ("/static/", "/i18n/")


class PasswordChangeRequiredMiddleware:
    """Keeps a user who logged in with a temporary password on the profile page until they
    have saved a password of their own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            _maybe_logged_in(request)
            and user is not None
            and user.is_authenticated
            and getattr(user, "must_change_password", False)
        ):
            allowed = (reverse("accounts:profile"), reverse("accounts:logout"))
            if request.path not in allowed and not request.path.startswith(_ALLOWED_PREFIXES):
                return redirect("accounts:profile")
        return self.get_response(request)


class PrivatePagesMiddleware:
    """A page made for a logged-in person is never kept by the browser or a proxy: after
    logging out, Back shows nothing (ASVS 14.3.2). Nor is any page of the admin, for anyone:
    its login and second-factor pages and the redirects to them included."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        logged_in = _maybe_logged_in(request) and user is not None and user.is_authenticated
        if logged_in or request.path.startswith(_admin_path(get_script_prefix())):
            add_never_cache_headers(response)
        return response
