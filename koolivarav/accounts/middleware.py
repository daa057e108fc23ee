from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

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
            user is not None
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
        if (user is not None and user.is_authenticated) or request.path.startswith(
            reverse("admin:index")
        ):
            add_never_cache_headers(response)
        return response
