"""The two ends of a log-in through TARA or HarID: the button's POST that sends the person to
the provider, and the provider's redirect back (the callback).

Each school host is its own registered redirect address (ARCHITECTURE.md, "Verified
identity"), so the flow starts and ends on the same host, in the same session: the `state`
and the `nonce` never leave the browser's own session, and no parameter says which school.
"""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache

from koolivarav.accounts import throttling
from koolivarav.accounts.verified import log_in_verified, verified_account
from koolivarav.applications.verified import VerifiedParent, remember_verified_parent
from koolivarav.applications.views import throttled

from . import client
from .client import IdentityError, VerifiedPerson


def _school(request: HttpRequest, provider: str):  # type: ignore[no-untyped-def]
    school = getattr(request, "school", None)
    if school is None or not client.available(school, provider):
        raise Http404
    return school


@method_decorator(never_cache, name="dispatch")
class StartView(View):
    """The button: POST (with the CSRF token), so that no link or image elsewhere can start
    a log-in in someone's browser."""

    def post(self, request: HttpRequest, provider: str) -> HttpResponse:
        school = _school(request, provider)
        purpose = request.POST.get("purpose", "login")
        if purpose not in client.PURPOSES or (purpose == "admin" and provider != "tara"):
            purpose = "login"
        limit = throttling.limit("identity_start_per_address")
        if not throttling.hit(limit, throttling.client_address(request)):
            return throttled(request)
        try:
            return client.start(request, provider=provider, school=school, purpose=purpose)
        except IdentityError as error:
            messages.error(request, error.message)
            return redirect("admin:login" if purpose == "admin" else "home")


@method_decorator(never_cache, name="dispatch")
class CallbackView(View):
    def get(self, request: HttpRequest, provider: str) -> HttpResponse:
        school = _school(request, provider)
        limit = throttling.limit("identity_start_per_address")
        if not throttling.hit(limit, throttling.client_address(request)):
            return throttled(request)
        try:
            person, purpose = client.finish(request, provider=provider, school=school)
        except IdentityError as error:
            messages.error(request, error.message)
            return redirect("home")
        if purpose == "admin":
            return _admin(request, person)
        if purpose == "apply":
            return _apply(request, person)
        return _login(request, person)


def _login(request: HttpRequest, person: VerifiedPerson) -> HttpResponse:
    user = verified_account(school=request.school, id_code=person.id_code)  # type: ignore[attr-defined]
    if user is None:
        # Only the person themself learns this: they have just proved the code is theirs.
        messages.info(
            request,
            _(
                "You do not have an account at this school yet. Apply for one here: your ID "
                "code and name are filled in."
            ),
        )
        return _apply(request, person)
    log_in_verified(request=request, user=user, provider=person.provider, level=person.level)
    return redirect("home")


def _apply(request: HttpRequest, person: VerifiedPerson) -> HttpResponse:
    remember_verified_parent(
        request,
        school=request.school,  # type: ignore[attr-defined]
        parent=VerifiedParent(
            id_code=person.id_code,
            first_name=person.first_name,
            last_name=person.last_name,
            method=person.method,
            level=person.level,
            verified_at=person.verified_at,
        ),
    )
    return redirect("applications:start")


def _admin(request: HttpRequest, person: VerifiedPerson) -> HttpResponse:
    user = verified_account(school=request.school, id_code=person.id_code)  # type: ignore[attr-defined]
    if user is None or not user.is_staff or not user.administers(request.school):  # type: ignore[attr-defined]
        messages.error(
            request,
            _(
                "There is no administrator account with your ID code at this school. An "
                "operator adds your ID code to your account."
            ),
        )
        return redirect("admin:login")
    log_in_verified(request=request, user=user, provider=person.provider, level=person.level)
    return redirect("admin:index")
