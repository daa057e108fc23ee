from base64 import b32encode
from typing import Any
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from koolivarav.schools.admin_lists import guard_admin_class

from .forms import SecondFactorForm
from .services import (
    RECOVERY_CODES_FEW,
    confirm_second_factor,
    has_second_factor,
    make_recovery_codes,
    recovery_codes_left,
    second_factor_enrolment,
    second_factor_wait_seconds,
    verify_second_factor,
)
from .verified import has_verified_second_factor

# The recovery codes just made, from the request that made them to the page that shows them.
RECOVERY_CODES_SESSION_KEY = "koolivarav.recovery_codes"


class _ShownOnce(tuple[str, ...]):
    """Recovery codes for the page's template, which shows them, and for no log line: at DEBUG,
    Django's template engine logs its whole context, repr() and all, for a missing variable."""

    def __repr__(self) -> str:
        return f"<{len(self)} recovery codes>"


class SchoolAdminSite(admin.AdminSite):
    """The admin of one school at a time: a school's administrators only at their school's
    host, and only after the second factor (a code from an authenticator app)."""

    site_header = gettext_lazy("Koolivärav administration")
    site_title = gettext_lazy("Koolivärav")
    index_title = gettext_lazy("School administration")

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        # Every list of the site, the libraries' included, filters only by its declared
        # filters and keeps ID codes out of its search box (schools.admin_lists).
        admin_class = guard_admin_class(admin_class or admin.ModelAdmin)
        super().register(model_or_iterable, admin_class, **options)

    def is_school_staff(self, request: HttpRequest) -> bool:
        """Password checked, and staff of the request's school (or an operator)."""
        user = request.user
        return bool(
            user.is_active
            and user.is_staff
            and hasattr(user, "administers")
            and user.administers(getattr(request, "school", None))
        )

    def requires_verified_login(self, request: HttpRequest) -> bool:
        """The school lets its administrators in only through TARA (operators excepted)."""
        school = getattr(request, "school", None)
        return bool(
            school is not None and school.admins_require_tara and not request.user.is_superuser  # type: ignore[union-attr]
        )

    def has_permission(self, request: HttpRequest) -> bool:
        if not self.is_school_staff(request):
            return False
        if has_verified_second_factor(request):
            # TARA at "substantial" or "high": two factors already.
            return True
        if self.requires_verified_login(request):
            return False
        return not settings.ADMIN_SECOND_FACTOR or request.user.is_verified()  # type: ignore[union-attr]

    def get_urls(self) -> list[URLResolver | URLPattern]:
        return [
            path("second-factor/", self.second_factor_verify, name="second_factor"),
            path("second-factor/setup/", self.second_factor_setup, name="second_factor_setup"),
            path(
                "second-factor/recovery-codes/",
                self.admin_view(self.second_factor_recovery_codes),
                name="second_factor_recovery_codes",
            ),
            *super().get_urls(),
        ]

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # Password accepted but no code yet: on to the code (or to setting up the app).
        if self.is_school_staff(request) and not self.has_permission(request):
            if self.requires_verified_login(request):
                # A password is not enough at this school: log out and in through TARA.
                logout(request)
                messages.error(
                    request,
                    _("This school's administrators log in with ID-card, Mobile-ID or Smart-ID."),
                )
                return redirect(reverse("admin:login", current_app=self.name))
            return self._to_second_factor(request)
        school = getattr(request, "school", None)
        context = {
            **(extra_context or {}),
            "verified_login": school is not None and "tara" in school.offered_identity_providers(),
            "verified_login_required": school is not None and school.admins_require_tara,
        }
        return super().login(request, context)

    def _next(self, request: HttpRequest) -> str:
        target = request.POST.get("next") or request.GET.get("next") or ""
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return target
        return reverse("admin:index", current_app=self.name)

    def _to_second_factor(self, request: HttpRequest) -> HttpResponseRedirect:
        name = "admin:second_factor"
        if not has_second_factor(user=request.user):  # type: ignore[arg-type]
            name = "admin:second_factor_setup"
        return redirect(f"{reverse(name)}?{urlencode({'next': self._next(request)})}")

    def _second_factor_gate(self, request: HttpRequest) -> HttpResponse | None:
        """Where to send a request that should not see a second-factor page."""
        if not self.is_school_staff(request):
            return redirect(f"{reverse('admin:login')}?{urlencode({'next': self._next(request)})}")
        if self.has_permission(request):
            return redirect(self._next(request))
        return None

    @method_decorator(never_cache)
    def second_factor_verify(self, request: HttpRequest) -> HttpResponse:
        if (gate := self._second_factor_gate(request)) is not None:
            return gate
        user = request.user
        if not has_second_factor(user=user):  # type: ignore[arg-type]
            return self._to_second_factor(request)
        form = SecondFactorForm(request.POST or None, accept_recovery_code=True)
        if request.method == "POST" and form.is_valid():
            wait = second_factor_wait_seconds(user=user)  # type: ignore[arg-type]
            code = form.cleaned_data["code"]
            device = None if wait else verify_second_factor(user=user, code=code)  # type: ignore[arg-type]
            if device is not None:
                otp_login(request, device)
                self._tell_recovery_codes_left(request, used=isinstance(device, StaticDevice))
                return redirect(self._next(request))
            if wait:
                form.add_error(
                    "code",
                    _("Too many wrong codes. Wait %(seconds)d seconds and try again.")
                    % {"seconds": wait},
                )
            else:
                form.add_error(
                    "code",
                    _(
                        "This code is not right. Type the code your app shows now; each code "
                        "works once."
                    ),
                )
        return TemplateResponse(
            request,
            "admin/second_factor.html",
            {
                **self.each_context(request),
                "form": form,
                "next": self._next(request),
                "title": _("Second factor"),
            },
        )

    @method_decorator(never_cache)
    def second_factor_setup(self, request: HttpRequest) -> HttpResponse:
        if (gate := self._second_factor_gate(request)) is not None:
            return gate
        user = request.user
        if has_second_factor(user=user):  # type: ignore[arg-type]
            return self._to_second_factor(request)
        device = second_factor_enrolment(user=user)  # type: ignore[arg-type]
        form = SecondFactorForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            codes = confirm_second_factor(user=user, device=device, code=form.cleaned_data["code"])  # type: ignore[arg-type]
            if codes is not None:
                device.refresh_from_db()
                otp_login(request, device)
                return self._show_recovery_codes(request, codes)
            form.add_error(
                "code",
                _(
                    "This code is not right. Check that the app was set up with the key on "
                    "this page and type the code it shows now."
                ),
            )
        secret = b32encode(device.bin_key).decode().rstrip("=")
        return TemplateResponse(
            request,
            "admin/second_factor_setup.html",
            {
                **self.each_context(request),
                "form": form,
                "next": self._next(request),
                "title": _("Set up the second factor"),
                "qr_code": segno.make(device.config_url, error="m").svg_data_uri(scale=5),
                "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
            },
        )

    def second_factor_recovery_codes(self, request: HttpRequest) -> HttpResponse:
        """The recovery codes just made, shown this once; a POST makes new ones.

        The codes travel from the request that made them to this page in the session, never
        in an address, and leave it as they are shown: reloading shows only how many are left.
        """
        user = request.user
        if not has_second_factor(user=user):  # type: ignore[arg-type]
            # In through TARA, or the second factor off for a demo: no codes to make.
            return redirect(self._next(request))
        if request.method == "POST":
            return self._show_recovery_codes(request, make_recovery_codes(user=user))  # type: ignore[arg-type]
        codes = request.session.pop(RECOVERY_CODES_SESSION_KEY, None)
        return TemplateResponse(
            request,
            "admin/second_factor_recovery_codes.html",
            {
                **self.each_context(request),
                "codes": _ShownOnce(codes) if codes else None,
                "left": None if codes else recovery_codes_left(user=user),  # type: ignore[arg-type]
                "next": self._next(request),
                "title": _("Recovery codes"),
                # A page to print or copy from: only the codes, no list of the admin's parts.
                "is_nav_sidebar_enabled": False,
            },
        )

    def _show_recovery_codes(self, request: HttpRequest, codes: list[str]) -> HttpResponse:
        request.session[RECOVERY_CODES_SESSION_KEY] = codes
        url = reverse("admin:second_factor_recovery_codes", current_app=self.name)
        return redirect(f"{url}?{urlencode({'next': self._next(request)})}")

    def _tell_recovery_codes_left(self, request: HttpRequest, *, used: bool) -> None:
        """After a login with a recovery code, how many are left; at any login, a warning
        when few are (an administrator from before the codes has none)."""
        left = recovery_codes_left(user=request.user)  # type: ignore[arg-type]
        few = left <= RECOVERY_CODES_FEW
        if not (used or few):
            return
        said = []
        if used:
            said.append(_("You logged in with a recovery code; it no longer works."))
        if left:
            said.append(
                ngettext("%(count)d recovery code left.", "%(count)d recovery codes left.", left)
                % {"count": left}
            )
        else:
            said.append(_("You have no recovery codes left."))
        if not few:
            messages.info(request, " ".join(said))
            return
        messages.warning(
            request,
            format_html(
                '{} <a href="{}">{}</a>',
                " ".join(said),
                reverse("admin:second_factor_recovery_codes", current_app=self.name),
                _("Make new recovery codes"),
            ),
        )
