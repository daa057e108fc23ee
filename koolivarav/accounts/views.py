from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.generic import DetailView, UpdateView, View

from koolivarav.schools.models import Student
from koolivarav.schools.pagecache import cache_anonymous_page

from . import throttling
from .forms import LoginForm, ProfileForm, SchoolPasswordResetForm, SchoolSetPasswordForm
from .models import User
from .selectors import children_of, listed_children_of, personal_data_of
from .services import change_password, log_in


@method_decorator(cache_anonymous_page, name="get")
class HomeView(auth_views.LoginView):
    """The school's home page: the login form and the way to apply for an account; once
    logged in, the parent's children (the start of the grading system)."""

    template_name = "accounts/home.html"
    authentication_form = LoginForm
    redirect_authenticated_user = False

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        if user.is_authenticated:
            context["children"] = listed_children_of(user=user)  # type: ignore[arg-type]
        else:
            school = getattr(self.request, "school", None)
            context["identity_providers"] = school.offered_identity_providers() if school else []
        return context

    def form_valid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        log_in(request=self.request, user=form.get_user())
        return HttpResponseRedirect(self.get_success_url())

    def get_success_url(self) -> str:
        if getattr(self.request.user, "must_change_password", False):
            # The profile page's own notice says what to do: no second message saying it too.
            return reverse("accounts:profile")
        return super().get_success_url()


class ProfileView(LoginRequiredMixin, UpdateView):
    """SPEC step 6: the parent's own data and password, saved with one button."""

    form_class = ProfileForm
    template_name = "accounts/profile.html"
    success_url = reverse_lazy("accounts:profile")

    def get_object(self, queryset: Any = None) -> User:
        return self.request.user  # type: ignore[return-value]

    def form_valid(self, form: ProfileForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_valid(form)
        if form.changes_password:
            change_password(user=self.object, password=form.cleaned_data["password1"])
            # Keeps this session; every other session of the user ends.
            update_session_auth_hash(self.request, self.object)
            messages.success(self.request, _("Your data and your new password have been saved."))
        else:
            messages.success(self.request, _("Your data has been saved."))
        return response


class PersonalDataView(LoginRequiredMixin, View):
    """The parent's own data as a JSON file (GDPR art. 15 and 20)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        data = personal_data_of(user=request.user)  # type: ignore[arg-type]
        response = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "indent": 2})
        response["Content-Disposition"] = 'attachment; filename="koolivarav-minu-andmed.json"'
        response["Cache-Control"] = "no-store"
        return response


class ChildDetailView(LoginRequiredMixin, DetailView):
    """One of the parent's own children; any other id is simply not found."""

    template_name = "accounts/child_detail.html"
    context_object_name = "child"

    def get_queryset(self) -> QuerySet[Student]:
        return children_of(user=self.request.user)  # type: ignore[arg-type]


class LogoutView(auth_views.LogoutView):
    """Logout by POST only (Django's LogoutView refuses GET); the home page then says so."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, _("You have logged out."))
        return response


@method_decorator(cache_anonymous_page, name="get")
class PasswordResetView(auth_views.PasswordResetView):
    """Order a one-time link by e-mail; the same answer whether or not the person exists."""

    form_class = SchoolPasswordResetForm
    template_name = "accounts/password_reset_form.html"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form: SchoolPasswordResetForm) -> HttpResponse:  # type: ignore[override]
        address = throttling.client_address(self.request)
        if not throttling.hit(throttling.limit("password_reset_per_address"), address):
            return render(self.request, "applications/throttled.html", status=429)
        # No lookup here: the worker finds the person and counts the per-person limit, so this
        # answer takes the same time whether or not the account exists.
        form.save(school=self.request.school, language=get_language())  # type: ignore[attr-defined]
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Opening the link shows a form; only sending the form uses the link up, so a mail
    scanner that fetches the link does not spend it."""

    template_name = "accounts/password_reset_confirm.html"
    form_class = SchoolSetPasswordForm
    success_url = reverse_lazy("accounts:password_reset_complete")
    post_reset_login = False


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


def locked_out(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' answer to a locked-out login: a page in the visitor's language (429)."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return render(request, "accounts/locked_out.html", {"minutes": minutes}, status=429)
